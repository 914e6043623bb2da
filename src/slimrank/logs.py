"""Logging for workflow scripts: everything goes to the rule's log file and to stderr."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup(log_file: str | None, name: str = "slimrank") -> logging.Logger:
    """Log INFO and above to stderr and ``log_file``; an uncaught exception is logged there
    too (message and traceback) before the script exits with an error."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w", encoding="utf-8"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logger = logging.getLogger(name)
    previous = sys.excepthook

    def log_uncaught(kind, error, traceback):
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, error, traceback)
            return
        # Logged to the rule's log and stderr: Snakemake (and a cluster's job output) then
        # show the error instead of an empty log file.
        logger.critical("%s: %s", kind.__name__, error, exc_info=(kind, error, traceback))

    sys.excepthook = log_uncaught
    return logger
