"""TREC readers reject malformed files with the file and line; writers never leave half a file."""

import pytest

from slimrank.trec import (
    TrecFormatError,
    atomic_output,
    read_qrels,
    read_run,
    write_qrels,
    write_run,
)


def test_run_round_trip_sorts_by_score_then_docid(tmp_path):
    run = {"q2": {"b": 1.0, "a": 1.0, "c": 2.0}, "q1": {"z": 0.5}}
    write_run(run, tmp_path / "r.trec", tag="t")
    lines = (tmp_path / "r.trec").read_text().splitlines()
    assert lines == [
        "q1 Q0 z 1 0.500000 t",
        "q2 Q0 c 1 2.000000 t",
        "q2 Q0 a 2 1.000000 t",
        "q2 Q0 b 3 1.000000 t",
    ]
    assert read_run(tmp_path / "r.trec") == run


def test_qrels_round_trip(tmp_path):
    qrels = {"1": {"7": 2, "3": 0}}
    write_qrels(qrels, tmp_path / "q.txt")
    assert (tmp_path / "q.txt").read_text() == "1 0 3 0\n1 0 7 2\n"
    assert read_qrels(tmp_path / "q.txt") == qrels


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("q1 Q0 d1 1 0.5 tag\nq1 Q0 d2 2 0.4\n", r"r\.trec:2: a TREC run line needs 6 fields"),
        ("q1 Q0 d1 one 0.5 tag\n", r"r\.trec:1: rank must be an integer"),
        ("q1 Q0 d1 1 0.5 t\nq1 Q0 d1 2 0.4 t\n", r"r\.trec:2: document d1 repeated"),
        ("", r"r\.trec: the run is empty"),
    ],
)
def test_malformed_run_names_file_and_line(tmp_path, text, message):
    (tmp_path / "r.trec").write_text(text)
    with pytest.raises(TrecFormatError, match=message):
        read_run(tmp_path / "r.trec")


def test_malformed_qrels_names_file_and_line(tmp_path):
    (tmp_path / "q.txt").write_text("1 0 d1 1\n1 0 d2 high\n")
    with pytest.raises(TrecFormatError, match=r"q\.txt:2: grade must be an integer"):
        read_qrels(tmp_path / "q.txt")


def test_atomic_output_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as out:
            out.write("half a line")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_output_gets_the_umask_mode_not_mkstemps(tmp_path, umask, mode):
    import os

    from slimrank.trec import atomic_output

    before = os.umask(umask)
    try:
        with atomic_output(tmp_path / "out.txt") as out:
            out.write("x\n")
    finally:
        os.umask(before)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == mode
