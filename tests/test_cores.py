"""Cores a training or scoring job claims of Snakemake's budget, and the threads it runs."""

import pytest

from slimrank.cores import job_cores, job_threads


@pytest.mark.parametrize(
    ("cores", "per_job", "machine", "claimed"),
    [
        (2, 1, 2, 1),  # the measured default: two one-thread jobs at a time
        (8, 1, 2, 4),  # `--cores 8` on 2 cores: still two at a time, not eight
        (8, None, 2, 8),  # null: the whole budget, one job at a time
        (8, 1, 16, 1),  # a bigger machine than --cores: eight at a time
        (8, 2, 16, 2),
        (1, 4, 2, 1),  # more threads than granted: capped
        (16, 3, 16, 3),
    ],
)
def test_job_cores_claim_the_jobs_share_of_the_real_machine(cores, per_job, machine, claimed):
    assert job_cores(cores, per_job, machine) == claimed
    # Jobs at once times the threads each really uses: the usable machine, never more.
    usable = min(cores, machine)
    threads = min(per_job or usable, usable)
    assert (cores // claimed) * threads <= usable


def test_job_threads_never_exceed_the_job_limit_or_the_machine(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert job_threads(4, 1) == 1  # `--cores 8` on 2 cores grants 4; threads_per_job says 1
    assert job_threads(8) == 2  # granted more cores than the machine has
    assert job_threads(8, 4) == 2
    assert job_threads(1) == 1
    assert job_threads(2, 3) == 2
