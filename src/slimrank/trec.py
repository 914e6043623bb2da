"""TREC run and qrels files: strict readers (errors name the file and line) and atomic writers.

Runs are ``dict[qid, dict[docid, score]]`` and qrels ``dict[qid, dict[docid, grade]]``, the
shapes ranx's ``Run``/``Qrels`` take, with string ids throughout.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


class TrecFormatError(ValueError):
    """A run or qrels file does not follow the TREC format."""


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w") -> Iterator:
    """Open ``path`` for writing through a temporary file that is renamed on success.

    An interrupted writer leaves no half-written file under the final name. The file gets the
    mode a plain ``open`` would give it (0o666 less the umask), not mkstemp's 0o600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_run(path: str | os.PathLike, allow_empty: bool = False) -> Run:
    """Read a six-column TREC run ``qid Q0 docid rank score tag``.

    An empty file is an error unless ``allow_empty`` (a shard may hold no query)."""
    path = Path(path)
    run: Run = {}
    with _open_text(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 6:
                raise TrecFormatError(
                    f"{path}:{lineno}: a TREC run line needs 6 fields "
                    f"(qid Q0 docid rank score tag), found {len(fields)}: {line.strip()!r}"
                )
            qid, _, docid, rank, score, _ = fields
            try:
                int(rank)
                value = float(score)
            except ValueError:
                raise TrecFormatError(
                    f"{path}:{lineno}: rank must be an integer and score a number: {line.strip()!r}"
                ) from None
            docs = run.setdefault(qid, {})
            if docid in docs:
                raise TrecFormatError(f"{path}:{lineno}: document {docid} repeated for query {qid}")
            docs[docid] = value
    if not run and not allow_empty:
        raise TrecFormatError(f"{path}: the run is empty")
    return run


def read_qrels(path: str | os.PathLike) -> Qrels:
    """Read TREC qrels ``qid iter docid grade`` (grade an integer)."""
    path = Path(path)
    qrels: Qrels = {}
    with _open_text(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 4:
                raise TrecFormatError(
                    f"{path}:{lineno}: a TREC qrels line needs 4 fields (qid iter docid grade), "
                    f"found {len(fields)}: {line.strip()!r}"
                )
            qid, _, docid, grade = fields
            try:
                qrels.setdefault(qid, {})[docid] = int(grade)
            except ValueError:
                raise TrecFormatError(
                    f"{path}:{lineno}: grade must be an integer: {line.strip()!r}"
                ) from None
    if not qrels:
        raise TrecFormatError(f"{path}: the qrels file is empty")
    return qrels


def ranked(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """Documents by descending score; ties broken by docid so output never depends on order."""
    return sorted(docs.items(), key=lambda item: (-item[1], item[0]))


def write_run(run: Mapping[str, Mapping[str, float]], path: str | os.PathLike, tag: str) -> None:
    """Write a TREC run atomically, queries in sorted order, ranks from 1."""
    with atomic_output(path) as out:
        for qid in sorted(run):
            for rank, (docid, score) in enumerate(ranked(run[qid]), start=1):
                out.write(f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n")


def write_qrels(qrels: Mapping[str, Mapping[str, int]], path: str | os.PathLike) -> None:
    """Write TREC qrels atomically, sorted by query and document."""
    with atomic_output(path) as out:
        for qid in sorted(qrels):
            for docid in sorted(qrels[qid]):
                out.write(f"{qid} 0 {docid} {qrels[qid][docid]}\n")


def read_tsv_pairs(path: str | os.PathLike) -> dict[str, str]:
    """Read ``id<TAB>text`` lines (queries or passages) into a dict, in file order."""
    path = Path(path)
    out: dict[str, str] = {}
    with _open_text(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line:
                continue
            key, sep, text = line.partition("\t")
            if not sep or not key:
                raise TrecFormatError(f"{path}:{lineno}: expected 'id<TAB>text': {line[:80]!r}")
            out[key] = text
    return out


def write_tsv_pairs(pairs: Mapping[str, str], path: str | os.PathLike) -> None:
    """Write ``id<TAB>text`` lines atomically, in the mapping's order."""
    with atomic_output(path) as out:
        for key, text in pairs.items():
            out.write(f"{key}\t{text}\n")


def read_ids(path: str | os.PathLike) -> list[str]:
    """The first column of an ``id<TAB>text`` file, without keeping the texts."""
    with _open_text(Path(path)) as handle:
        return [line.split("\t", 1)[0] for line in handle if line.strip()]


def merge_shards(parts: Sequence[Mapping[str, Mapping[str, float]]]) -> Run:
    """Union of shard runs; a query in two shards is an error."""
    merged: Run = {}
    for part in parts:
        for qid, docs in part.items():
            if qid in merged:
                raise ValueError(f"query {qid} is in two shards")
            merged[qid] = dict(docs)
    return merged
