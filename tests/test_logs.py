"""Workflow scripts' logging: an uncaught exception reaches the rule's log, not only stderr."""

import os
import subprocess
import sys

from .conftest import REPO

SCRIPT = """
from slimrank.data import DataError
from slimrank.logs import setup

log = setup({log!r})
log.info("started")
raise DataError("queries.tsv: query id q1 appears twice (records 1 and 3)")
"""


def test_uncaught_exception_is_logged_before_the_script_fails(tmp_path):
    log_file = tmp_path / "logs/job.log"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(log=str(log_file))],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert done.returncode == 1, done.stderr
    text = log_file.read_text()
    assert "INFO slimrank: started" in text
    assert "CRITICAL slimrank: DataError: queries.tsv: query id q1 appears twice" in text
    assert "Traceback (most recent call last)" in text
    assert "appears twice" in done.stderr
