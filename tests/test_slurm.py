"""Integration on a real SLURM: the tiny config through ``profiles/slurm`` on a one-node cluster.

Runs only where root and apt are available (it installs slurm-wlm and munge); it is excluded
from ``make test`` by its marker and run by ``make test-slurm`` (CI runs both). The cluster's
node claims the profile's paper-scale CPUs and memory, so the profile's own resource requests go
to sbatch unchanged; only the thread counts are set to the local run's, so that both runs do the
same arithmetic and their outputs can be compared byte for byte.
"""

import re
import subprocess

import pytest

from .conftest import REPO, run_snakemake, snakemake_command, tiny_workflow_config
from .slurm_cluster import LocalSlurm, install, unavailable_reason

pytestmark = [pytest.mark.integration, pytest.mark.slurm]

# Data, BM25 for every split, training groups, the full model's training, its sharded reranking
# of dl19 (2 shards) and their merge: every kind of job the cluster runs at paper scale.
TARGETS = ("results/runs/dl19/bm25.trec", "results/runs/dl19/seed13/full.trec")
COMPARED = (
    "results/runs/dl19/bm25.trec",
    "results/runs/valid/bm25.trec",
    "results/runs/train/bm25.trec",
    "results/training/groups.jsonl",
    "results/runs/dl19/seed13/full.trec",
)
SAME_THREADS = ("train_model=2", "rerank_shard=2", "benchmark_model=2")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    install()
    slurm = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        yield slurm.start()
    finally:
        killed = slurm.stop()
        assert not killed, f"daemons ignored SIGTERM and were killed: {killed}"
        assert not slurm.running()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("local")
    done = run_snakemake(workdir, tiny_workflow_config(), *TARGETS)
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("on-slurm")
    command = snakemake_command(
        workdir,
        tiny_workflow_config(),
        "--workflow-profile",
        str(REPO / "profiles/slurm"),
        "--set-threads",
        *SAME_THREADS,
        "--slurm-no-account",
        # Poll a one-node cluster often: the default first check after 40 s dominates a tiny run.
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--seconds-between-status-checks",
        "3",
        *TARGETS,
    )
    done = subprocess.run(command, capture_output=True, text=True, env=cluster.env, timeout=1800)
    assert done.returncode == 0, done.stderr[-6000:]
    return workdir, done.stdout + done.stderr


def test_every_job_went_through_sbatch(cluster, slurm_run):
    _, output = slurm_run
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", output)
    planned = re.search(r"^total\s+(\d+)$", output, re.MULTILINE)
    assert planned, output[-3000:]
    # Every job but the `localrules` ones (none here) is a SLURM job the controller accepted.
    assert len(submitted) == int(planned.group(1))
    log = (cluster.root / "log/slurmctld.log").read_text()
    accepted = set(re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", log))
    assert set(submitted) <= accepted


def test_profile_requests_reach_sbatch(cluster, slurm_run):
    """The profile's per-rule resources are what the training job asked the scheduler for."""
    _, output = slurm_run
    job = re.search(r"rule train_model:.*?submitted with SLURM jobid (\d+)", output, re.DOTALL)
    assert job, output[-3000:]
    shown = subprocess.run(
        ["scontrol", "show", "job", job.group(1)], env=cluster.env, capture_output=True, text=True
    ).stdout
    assert "NumCPUs=8" in shown, shown
    assert re.search(r"(mem|MinMemoryNode)=32000M", shown), shown


def test_slurm_outputs_equal_the_local_run(slurm_run, local_run):
    workdir, _ = slurm_run
    for name in COMPARED:
        assert (workdir / name).read_bytes() == (local_run / name).read_bytes(), name
