"""Datasets through ir_datasets, and the query splits of the study.

Official collections (``msmarco-passage/trec-dl-2019/judged``, ...) are loaded by their
ir_datasets id. A local folder such as MS MARCO-mini is registered as ir_datasets datasets
(``<name>`` for the documents, ``<name>/<subset>`` for documents, queries and qrels of a subset),
so the rest of the workflow has one loader for both.

ir_datasets is imported where it is used: the Snakefile reads a local dataset's file list
(``LocalDataset``, ``DataError``) through this module, and importing ir_datasets takes longer
than parsing the whole workflow.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from slimrank.trec import Qrels, Run

log = logging.getLogger(__name__)


class DataError(ValueError):
    """Input data is missing or malformed; the message names the file and the config key."""


@dataclass(frozen=True)
class LocalSubset:
    queries: str
    qrels: str


@dataclass(frozen=True)
class LocalDataset:
    """A folder of TSV/TREC files registered under ``name`` (see ``register_local_dataset``)."""

    name: str
    dir: Path
    docs: str
    subsets: Mapping[str, LocalSubset] = field(default_factory=dict)
    config_key: str = "local_datasets"
    expected_docs: int | None = None

    def files(self) -> dict[str, Path]:
        """Every file the dataset needs, keyed by the config key that names it."""
        key = f"{self.config_key}.{self.name}"
        out = {f"{key}.docs": self.dir / self.docs}
        for subset, files in self.subsets.items():
            out[f"{key}.subsets.{subset}.queries"] = self.dir / files.queries
            out[f"{key}.subsets.{subset}.qrels"] = self.dir / files.qrels
        return out

    def check_files(self) -> None:
        """Fail early, naming the path and the config key, when the folder or a file is missing."""
        if not self.dir.is_dir():
            raise DataError(
                f"data folder {self.dir} does not exist "
                f"(config key {self.config_key}.{self.name}.dir)"
            )
        for key, path in self.files().items():
            if not path.is_file():
                raise DataError(f"data file {path} does not exist (config key {key})")

    def source_files(self, subset: str, kinds: Iterable[str]) -> list[str]:
        """The files a job reading ``kinds`` (docs, queries, qrels) of ``<name>/<subset>`` reads."""
        files = []
        for kind in kinds:
            if kind == "docs":
                files.append(self.dir / self.docs)
            else:
                files.append(self.dir / getattr(self.subsets[subset], kind))
        return [str(path) for path in files]


def local_dataset_from_config(name: str, entry: Mapping, root: Path) -> LocalDataset:
    """Build a ``LocalDataset`` from a config entry; relative folders resolve against ``root``."""
    folder = Path(entry["dir"])
    if not folder.is_absolute():
        folder = (root / folder).resolve()
    subsets = {
        subset: LocalSubset(queries=files["queries"], qrels=files["qrels"])
        for subset, files in entry.get("subsets", {}).items()
    }
    return LocalDataset(
        name=name,
        dir=folder,
        docs=entry["docs"],
        subsets=subsets,
        expected_docs=entry.get("expected_docs"),
    )


def _download(path: Path):
    from ir_datasets.util import GzipExtract, LocalDownload

    # mkdir=False: ir_datasets would otherwise create a missing data folder.
    local = LocalDownload(path, mkdir=False)
    return GzipExtract(local) if path.suffix == ".gz" else local


def register_local_dataset(dataset: LocalDataset) -> None:
    """Register ``dataset`` with ir_datasets; registering the same name again is a no-op."""
    import ir_datasets
    from ir_datasets.datasets.base import Dataset
    from ir_datasets.formats import TrecQrels, TsvDocs, TsvQueries

    if dataset.name in ir_datasets.registry:
        return
    docs = TsvDocs(_download(dataset.dir / dataset.docs), namespace=dataset.name, lang="en")
    ir_datasets.registry.register(dataset.name, Dataset(docs))
    for subset, files in dataset.subsets.items():
        ir_datasets.registry.register(
            f"{dataset.name}/{subset}",
            Dataset(
                docs,
                TsvQueries(_download(dataset.dir / files.queries), namespace=dataset.name),
                TrecQrels(_download(dataset.dir / files.qrels), {}),
            ),
        )


def register_datasets(local: Mapping, root: str | Path = ".") -> None:
    """Register every local dataset of a config's ``local_datasets`` with ir_datasets (folders
    relative to ``root``; the workflow passes them resolved)."""
    for name, entry in local.items():
        dataset = local_dataset_from_config(name, entry, Path(root))
        dataset.check_files()
        register_local_dataset(dataset)


def _records(dataset_id: str, kind: str, config_key: str) -> Iterator:
    """Iterate ``docs``/``queries``/``qrels`` of an ir_datasets id; errors name the record."""
    import ir_datasets

    dataset = ir_datasets.load(dataset_id)
    if not getattr(dataset, f"has_{kind}")():
        raise DataError(f"ir_datasets id {dataset_id!r} has no {kind} (config key {config_key})")
    number = 0
    try:
        for number, record in enumerate(getattr(dataset, f"{kind}_iter")(), start=1):  # noqa: B007
            yield record
    except DataError:
        raise
    except Exception as error:
        source = _source_path(dataset, kind)
        raise DataError(
            f"cannot read {kind} of {dataset_id!r} from {source}, record {number + 1}: {error} "
            f"(config key {config_key})"
        ) from error


def source_file(dataset_id: str, kind: str) -> str:
    """The file ``kind`` (docs, queries, qrels) of an ir_datasets id is read from."""
    import ir_datasets

    return _source_path(ir_datasets.load(dataset_id), kind)


def _source_path(dataset, kind: str) -> str:
    handler = getattr(dataset, f"{kind}_handler", lambda: None)()
    for attr in ("_dlc", "_queries_dlc", "_qrels_dlc", "_docs_dlc"):
        dlc = getattr(handler, attr, None)
        if dlc is not None:
            try:
                return str(dlc.path(force=False))
            except Exception:  # noqa: BLE001 - only used to improve an error message
                return repr(dlc)
    return "(unknown file)"


def _check_new_id(
    record_id: str, number: int, first: dict[str, int], dataset_id: str, kind: str, config_key: str
) -> None:
    """Record where ``record_id`` first appeared; an empty or repeated id is a DataError."""
    noun = {"docs": "document", "queries": "query"}[kind]
    where = source_file(dataset_id, kind)
    if not record_id:
        raise DataError(
            f"{where}: empty {noun} id in record {number} of {dataset_id!r} "
            f"(config key {config_key})"
        )
    if record_id in first:
        raise DataError(
            f"{where}: {noun} id {record_id} appears twice (records {first[record_id]} and "
            f"{number}) in {dataset_id!r} (config key {config_key})"
        )
    first[record_id] = number


def load_docs(
    dataset_id: str,
    config_key: str = "collection",
    expected: int | None = None,
    expected_key: str = "",
) -> Iterator[tuple[str, str]]:
    """Yield ``(doc_id, text)``; documents with several fields are joined with a space.

    A document id seen twice is an error (BM25 and the collection file would disagree), and so
    is a count other than ``expected`` (set by the config key ``expected_key``) at the end.
    """
    first: dict[str, int] = {}
    number = 0
    for number, doc in enumerate(_records(dataset_id, "docs", config_key), start=1):
        text = getattr(doc, "text", None)
        if text is None:
            text = " ".join(str(value) for value in doc[1:])
        _check_new_id(doc.doc_id, number, first, dataset_id, "docs", config_key)
        yield doc.doc_id, " ".join(text.split())
    if expected is not None and number != expected:
        raise DataError(
            f"{source_file(dataset_id, 'docs')}: {number} documents in {dataset_id!r}, "
            f"expected {expected} (config key {expected_key or config_key})"
        )


def load_queries(dataset_id: str, config_key: str) -> dict[str, str]:
    """Queries of an ir_datasets id as ``{qid: text}``; a query id seen twice is an error."""
    queries: dict[str, str] = {}
    first: dict[str, int] = {}
    for number, query in enumerate(_records(dataset_id, "queries", config_key), start=1):
        _check_new_id(query.query_id, number, first, dataset_id, "queries", config_key)
        queries[query.query_id] = " ".join(query.text.split())
    if not queries:
        raise DataError(f"{dataset_id!r} has no queries (config key {config_key})")
    return queries


def load_qrels(dataset_id: str, config_key: str, counts: dict | None = None) -> Qrels:
    """Qrels of an ir_datasets id as ``{qid: {doc_id: grade}}``.

    A query-document pair judged twice with different grades is an error naming both records;
    an exact repeat is dropped with a warning and counted in ``counts["repeated_qrels"]``.
    """
    qrels: Qrels = {}
    first: dict[tuple[str, str], int] = {}
    repeated = 0
    for number, qrel in enumerate(_records(dataset_id, "qrels", config_key), start=1):
        judged = qrels.setdefault(qrel.query_id, {})
        grade = int(qrel.relevance)
        pair = (qrel.query_id, qrel.doc_id)
        if pair in first:
            if judged[qrel.doc_id] != grade:
                raise DataError(
                    f"{source_file(dataset_id, 'qrels')}: query {qrel.query_id} document "
                    f"{qrel.doc_id} is judged {judged[qrel.doc_id]} in record {first[pair]} and "
                    f"{grade} in record {number} of {dataset_id!r} (config key {config_key})"
                )
            repeated += 1
            continue
        first[pair] = number
        judged[qrel.doc_id] = grade
    if not qrels:
        raise DataError(f"{dataset_id!r} has no qrels (config key {config_key})")
    if repeated:
        log.warning(
            "%s: %d qrels lines repeat an earlier line exactly and are ignored (config key %s)",
            source_file(dataset_id, "qrels"),
            repeated,
            config_key,
        )
    if counts is not None:
        counts["repeated_qrels"] = counts.get("repeated_qrels", 0) + repeated
    return qrels


@dataclass
class Split:
    """The queries and qrels of one split, and counts of what building it removed."""

    name: str
    queries: dict[str, str]
    qrels: Qrels
    counts: dict[str, int] = field(default_factory=dict)


def has_positive(judged: Mapping[str, int], collection_ids: set[str], min_grade: int) -> bool:
    return any(grade >= min_grade and doc in collection_ids for doc, grade in judged.items())


def build_split(
    name: str,
    sources: Iterable[tuple[dict[str, str], Qrels]],
    *,
    collection_ids: set[str],
    require_positive: bool,
    relevance_level: int,
    max_missing_judged: float,
    seed: int,
    exclude: Iterable[str] = (),
    sample: int | None = None,
    labels: Sequence[str] | None = None,
) -> Split:
    """Merge sources into one split: drop excluded queries and, where asked, queries without a
    judged positive in the collection, then take a seeded sample of ``sample`` queries.

    Queries keep only the qrels of the source that supplied them; a query in two sources is an
    error, since its judgements would be ambiguous. Judged documents missing from the
    collection (over the queries left after exclusion) are counted; a share above
    ``max_missing_judged`` is an error naming the source (``labels``: one per source, for
    messages) and the config key, and so is a split left with no query. ``seed`` and
    ``max_missing_judged`` have no defaults here: the config schema owns them.
    """
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    origin: dict[str, int] = {}
    for index, (source_queries, source_qrels) in enumerate(sources):
        for qid, text in source_queries.items():
            if qid in queries:
                raise DataError(f"split {name}: query {qid} appears in two of its sources")
            queries[qid] = text
            origin[qid] = index
            if qid in source_qrels:
                qrels[qid] = dict(source_qrels[qid])
    counts = {"source_queries": len(queries)}

    excluded = set(exclude)
    kept = [qid for qid in queries if qid not in excluded]
    counts["excluded"] = len(queries) - len(kept)

    unjudged = [qid for qid in kept if qid not in qrels]
    kept = [qid for qid in kept if qid in qrels]
    counts["without_qrels"] = len(unjudged)

    missing = [(qid, doc) for qid in kept for doc in qrels[qid] if doc not in collection_ids]
    counts["judged"] = sum(len(qrels[qid]) for qid in kept)
    counts["judged_not_in_collection"] = len(missing)
    share = len(missing) / counts["judged"] if counts["judged"] else 0.0
    if share > max_missing_judged:
        qid, doc = missing[0]
        source = labels[origin[qid]] if labels else f"source {origin[qid] + 1}"
        raise DataError(
            f"split {name}: {len(missing)} of {counts['judged']} judged documents "
            f"({share:.1%}) are not in the collection, first query {qid} document {doc} of "
            f"{source}; more than splits.{name}.max_missing_judged = {max_missing_judged} "
            "(a truncated collection or the wrong qrels file?)"
        )

    if require_positive:
        with_positive = [
            qid for qid in kept if has_positive(qrels[qid], collection_ids, relevance_level)
        ]
        counts["without_positive_in_collection"] = len(kept) - len(with_positive)
        kept = with_positive

    counts["eligible"] = len(kept)
    if sample is not None and sample < len(kept):
        # Sorting first makes the sample independent of file order.
        kept = random.Random(seed).sample(sorted(kept), sample)
    kept_set = set(kept)
    counts["queries"] = len(kept)
    if not kept:
        raise DataError(
            f"split {name}: no query is left ({', '.join(f'{k} {v}' for k, v in counts.items())}) "
            f"(config key splits.{name})"
        )
    return Split(
        name=name,
        queries={qid: queries[qid] for qid in queries if qid in kept_set},
        qrels={qid: qrels[qid] for qid in sorted(kept_set)},
        counts=counts,
    )


def check_disjoint(split: Split, others: Mapping[str, Iterable[str]]) -> None:
    """Raise naming the query when ``split`` shares a query with any split in ``others``."""
    mine = set(split.queries)
    for other, qids in others.items():
        shared = sorted(mine.intersection(qids))
        if shared:
            raise DataError(
                f"query {shared[0]} is in both split {split.name} and split {other} "
                f"({len(shared)} shared queries); splits must be disjoint"
            )


def restrict_run(run: Run, queries: Iterable[str], run_file: str, config_key: str) -> Run:
    """The part of a published run on ``queries``; none of them in the run is an error naming
    the file and the config key of the run's split."""
    wanted = set(queries)
    kept = {qid: docs for qid, docs in run.items() if qid in wanted}
    if not kept:
        raise DataError(
            f"{run_file}: none of its {len(run)} queries is in the split (config key "
            f"{config_key}); example query ids: run {sorted(run)[:3]}, split {sorted(wanted)[:3]}"
        )
    return kept
