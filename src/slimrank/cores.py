"""Cores and threads of training and scoring jobs (stdlib only: rule scripts of every
environment and the Snakefile import it)."""

from __future__ import annotations

import os


def job_cores(cores: int, threads_per_job: int | None, machine: int | None = None) -> int:
    """What a training or scoring job claims of Snakemake's ``--cores`` budget.

    Its share of the real machine (``machine`` cores, default this one's): with
    ``threads_per_job`` 1, ``--cores 8`` on 2 cores gives each job 4, so two run at a time,
    not eight; null claims everything, so such jobs run one at a time.
    """
    usable = max(1, min(cores, machine or os.cpu_count() or 1))
    threads = min(threads_per_job or usable, usable)
    return max(1, cores * threads // usable)


def job_threads(granted: int, per_job: int | None = None) -> int:
    """Torch threads for a job Snakemake granted ``granted`` cores.

    At most ``per_job`` (None: no limit) and never more than this machine has, since
    ``--cores 8`` on a 2-core machine grants a job more cores than exist. Computed inside the
    job, so that on a cluster node it is that node's core count that counts.
    """
    return max(1, min(granted, per_job or granted, os.cpu_count() or 1))
