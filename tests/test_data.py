"""Splits and the ir_datasets registration of a local folder."""

import gzip

import pytest

from slimrank.data import (
    DataError,
    LocalDataset,
    LocalSubset,
    build_split,
    check_disjoint,
    load_docs,
    load_qrels,
    load_queries,
    register_local_dataset,
    restrict_run,
)

COLLECTION = {"p1", "p2", "p3"}


def source(n, start=0, judged_doc="p1"):
    queries = {f"q{i}": f"query {i}" for i in range(start, start + n)}
    return queries, {qid: {judged_doc: 1} for qid in queries}


def test_split_drops_excluded_and_unanswerable_queries():
    queries, qrels = source(6)
    qrels["q1"] = {"p9": 1}  # positive not in the collection
    qrels["q2"] = {"p1": 0}  # judged, but not relevant
    del qrels["q3"]  # not judged at all
    split = build_split(
        "train",
        [(queries, qrels)],
        collection_ids=COLLECTION,
        require_positive=True,
        relevance_level=1,
        exclude={"q4"},
        max_missing_judged=1.0,
        seed=0,
    )
    assert list(split.queries) == ["q0", "q5"]
    assert split.counts == {
        "source_queries": 6,
        "excluded": 1,
        "without_qrels": 1,
        "judged": 4,
        "judged_not_in_collection": 1,  # q1's p9
        "without_positive_in_collection": 2,
        "eligible": 2,
        "queries": 2,
    }


def test_relevance_level_decides_what_a_positive_is():
    queries, qrels = source(2)
    qrels["q0"] = {"p1": 1}
    qrels["q1"] = {"p2": 2}
    split = build_split(
        "v",
        [(queries, qrels)],
        collection_ids=COLLECTION,
        require_positive=True,
        relevance_level=2,
        max_missing_judged=0.0,
        seed=0,
    )
    assert list(split.queries) == ["q1"]


def test_sample_is_seeded_and_independent_of_source_order():
    queries, qrels = source(50)
    reordered = dict(reversed(list(queries.items())))
    kwargs = dict(
        collection_ids=COLLECTION,
        require_positive=False,
        relevance_level=1,
        sample=10,
        max_missing_judged=0.0,
    )
    a = build_split("v", [(queries, qrels)], seed=1, **kwargs)
    b = build_split("v", [(reordered, qrels)], seed=1, **kwargs)
    c = build_split("v", [(queries, qrels)], seed=2, **kwargs)
    assert len(a.queries) == 10
    assert set(a.queries) == set(b.queries)
    assert set(a.queries) != set(c.queries)
    assert set(a.qrels) == set(a.queries)


def test_query_in_two_sources_is_an_error():
    with pytest.raises(DataError, match="query q0 appears in two of its sources"):
        build_split(
            "t",
            [source(2), source(1)],
            collection_ids=COLLECTION,
            require_positive=False,
            relevance_level=1,
            max_missing_judged=0.0,
            seed=0,
        )


def test_overlapping_splits_are_rejected_naming_the_query():
    split = build_split(
        "train",
        [source(3)],
        collection_ids=COLLECTION,
        require_positive=False,
        relevance_level=1,
        max_missing_judged=0.0,
        seed=0,
    )
    check_disjoint(split, {"dl19": ["q7"]})
    with pytest.raises(DataError, match="query q2 is in both split train and split valid"):
        check_disjoint(split, {"dl19": ["q7"], "valid": ["q2", "q9"]})


@pytest.fixture
def local_folder(tmp_path):
    folder = tmp_path / "mini"
    folder.mkdir()
    with gzip.open(folder / "collection.tsv.gz", "wt") as out:
        out.write("p1\tthe first  passage\np2\tsecond passage\n")
    (folder / "queries.tsv").write_text("q1\twhat is first\nq2\tsecond?\n")
    (folder / "qrels.txt").write_text("q1 0 p1 2\nq2 0 p2 1\n")
    return folder


def dataset(folder, name):
    return LocalDataset(
        name=name,
        dir=folder,
        docs="collection.tsv.gz",
        subsets={"test": LocalSubset(queries="queries.tsv", qrels="qrels.txt")},
    )


def test_local_folder_loads_through_ir_datasets(local_folder):
    register_local_dataset(dataset(local_folder, "slimrank-test-local"))
    assert dict(load_docs("slimrank-test-local")) == {
        "p1": "the first passage",  # whitespace collapsed
        "p2": "second passage",
    }
    assert load_queries("slimrank-test-local/test", "k") == {"q1": "what is first", "q2": "second?"}
    assert load_qrels("slimrank-test-local/test", "k") == {"q1": {"p1": 2}, "q2": {"p2": 1}}


def test_missing_folder_names_path_and_config_key(tmp_path):
    missing = dataset(tmp_path / "nowhere", "slimrank-test-missing")
    with pytest.raises(DataError, match=r"nowhere does not exist \(config key local_datasets"):
        missing.check_files()
    assert not (tmp_path / "nowhere").exists()


def test_missing_file_names_its_config_key(local_folder):
    (local_folder / "qrels.txt").unlink()
    with pytest.raises(DataError, match=r"subsets\.test\.qrels"):
        dataset(local_folder, "slimrank-test-nofile").check_files()


def test_malformed_queries_file_names_the_file_and_key(local_folder):
    (local_folder / "queries.tsv").write_text("q1\twhat\nq2 has no tab\n")
    register_local_dataset(dataset(local_folder, "slimrank-test-bad"))
    with pytest.raises(DataError, match=r"queries\.tsv, record 2: .*config key splits\.x"):
        load_queries("slimrank-test-bad/test", "splits.x")


# ----------------------------------------------------------------------------- integrity checks
# Each case corrupts a copy of the small folder above and loads it under its own dataset name
# (ir_datasets keeps the first registration of a name).


def corrupted(folder, name, **files):
    for file, text in files.items():
        path = folder / file
        if file.endswith(".gz"):
            with gzip.open(path, "wt") as out:
                out.write(text)
        else:
            path.write_text(text)
    register_local_dataset(dataset(folder, name))
    return name


def test_duplicate_query_id_names_file_records_and_key(local_folder):
    name = corrupted(local_folder, "slimrank-test-dupq", **{"queries.tsv": "q1\ta\nq2\tb\nq1\tc\n"})
    with pytest.raises(DataError) as info:
        load_queries(f"{name}/test", "splits.dl19.sources[0]")
    message = str(info.value)
    assert "queries.tsv: query id q1 appears twice (records 1 and 3)" in message
    assert "config key splits.dl19.sources[0]" in message


def test_conflicting_qrels_are_an_error_naming_both_records(local_folder):
    name = corrupted(
        local_folder, "slimrank-test-dupqrels", **{"qrels.txt": "q1 0 p1 3\nq2 0 p2 1\nq1 0 p1 0\n"}
    )
    with pytest.raises(DataError) as info:
        load_qrels(f"{name}/test", "splits.dl19.sources[0]")
    message = str(info.value)
    assert "qrels.txt: query q1 document p1 is judged 3 in record 1 and 0 in record 3" in message
    assert "config key splits.dl19.sources[0]" in message


def test_exact_repeat_of_a_qrels_line_is_counted_and_dropped(local_folder, caplog):
    name = corrupted(
        local_folder, "slimrank-test-repeat", **{"qrels.txt": "q1 0 p1 3\nq2 0 p2 1\nq1 0 p1 3\n"}
    )
    counts = {}
    assert load_qrels(f"{name}/test", "k", counts) == {"q1": {"p1": 3}, "q2": {"p2": 1}}
    assert counts == {"repeated_qrels": 1}
    assert "1 qrels lines repeat an earlier line exactly" in caplog.text


def test_duplicate_document_id_names_file_and_records(local_folder):
    name = corrupted(
        local_folder, "slimrank-test-dupdoc", **{"collection.tsv.gz": "p1\ta\np2\tb\np1\tc\n"}
    )
    with pytest.raises(DataError) as info:
        list(load_docs(name))
    message = str(info.value)
    assert "collection.tsv.gz: document id p1 appears twice (records 1 and 3)" in message
    assert "config key collection" in message


def test_document_count_other_than_expected_is_an_error(local_folder):
    name = corrupted(local_folder, "slimrank-test-count")
    key = f"local_datasets.{name}.expected_docs"
    assert len(list(load_docs(name, expected=2, expected_key=key))) == 2
    with pytest.raises(DataError) as info:
        list(load_docs(name, expected=51128, expected_key=key))
    message = str(info.value)
    assert "collection.tsv.gz: 2 documents" in message and "expected 51128" in message
    assert f"config key {key}" in message


def test_judged_documents_missing_from_the_collection_are_counted_and_capped():
    queries, qrels = source(4)
    qrels["q0"]["p9"] = 2  # judged, but cut from the collection
    kwargs = dict(collection_ids=COLLECTION, require_positive=False, relevance_level=1, seed=0)
    split = build_split("dl19", [(queries, qrels)], max_missing_judged=0.25, **kwargs)
    assert split.counts["judged"] == 5 and split.counts["judged_not_in_collection"] == 1
    with pytest.raises(DataError) as info:
        build_split(
            "dl19",
            [(queries, qrels)],
            max_missing_judged=0.0,
            labels=["mini/dl19 (q.txt)"],
            **kwargs,
        )
    message = str(info.value)
    assert "1 of 5 judged documents (20.0%) are not in the collection" in message
    assert "query q0 document p9 of mini/dl19 (q.txt)" in message
    assert "splits.dl19.max_missing_judged = 0.0" in message


def test_split_left_without_queries_is_an_error_naming_the_key():
    queries, qrels = source(2, judged_doc="p9")
    with pytest.raises(
        DataError, match=r"split valid: no query is left .*config key splits\.valid"
    ):
        build_split(
            "valid",
            [(queries, qrels)],
            collection_ids=COLLECTION,
            require_positive=True,
            relevance_level=1,
            max_missing_judged=1.0,
            seed=0,
        )


def test_reference_run_sharing_no_query_with_its_split_is_an_error():
    run = {"q7": {"p1": 1.0}, "q8": {"p2": 1.0}}
    assert restrict_run(run, ["q7", "q1"], "runs/x.trec", "reference_runs.x.split") == {
        "q7": {"p1": 1.0}
    }
    with pytest.raises(DataError) as info:
        restrict_run(run, ["q1", "q2"], "runs/x.trec", "reference_runs.x.split")
    message = str(info.value)
    assert "runs/x.trec: none of its 2 queries is in the split" in message
    assert "config key reference_runs.x.split" in message


def test_source_files_are_the_files_a_job_reads(local_folder):
    data = dataset(local_folder, "slimrank-test-files")
    assert data.source_files("test", ["queries", "qrels"]) == [
        str(local_folder / "queries.tsv"),
        str(local_folder / "qrels.txt"),
    ]
    assert data.source_files("", ["docs"]) == [str(local_folder / "collection.tsv.gz")]
