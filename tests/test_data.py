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
    )
    assert list(split.queries) == ["q0", "q5"]
    assert split.counts == {
        "source_queries": 6,
        "excluded": 1,
        "without_qrels": 1,
        "without_positive_in_collection": 2,
        "eligible": 2,
        "queries": 2,
    }


def test_relevance_level_decides_what_a_positive_is():
    queries, qrels = source(2)
    qrels["q0"] = {"p1": 1}
    qrels["q1"] = {"p2": 2}
    split = build_split(
        "v", [(queries, qrels)], collection_ids=COLLECTION, require_positive=True, relevance_level=2
    )
    assert list(split.queries) == ["q1"]


def test_sample_is_seeded_and_independent_of_source_order():
    queries, qrels = source(50)
    reordered = dict(reversed(list(queries.items())))
    kwargs = dict(collection_ids=COLLECTION, require_positive=False, relevance_level=1, sample=10)
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
        )


def test_overlapping_splits_are_rejected_naming_the_query():
    split = build_split(
        "train", [source(3)], collection_ids=COLLECTION, require_positive=False, relevance_level=1
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
