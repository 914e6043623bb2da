"""A throw-away one-node SLURM cluster on localhost, for the real-SLURM integration test.

Debian's ``slurm-wlm`` and ``munge`` are installed with apt when missing (root only). Every file
lives in one folder: its own munge key and socket (the system's munge is left alone), a
``slurm.conf`` naming this host as controller and only node, spool and state folders, logs.
Clients find the cluster through ``SLURM_CONF``; ``srun`` inside a job does not, because the
executor's job step drops every ``SLURM_*`` variable but the job's identity before it calls srun,
so the config must be where srun looks by default: ``/etc/slurm/slurm.conf`` is linked to this
cluster's file while it runs (the test refuses to run where that file already exists, since it
belongs to a real cluster) and removed when it stops. No cgroups (proctrack/linuxproc,
task/none) and no accounting database: ``sacct`` would have nothing to ask, which is why the
profile polls ``squeue``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
#: Where srun looks for the config when SLURM_CONF is not set (Debian's build).
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
DAEMONS = ("slurmd", "slurmctld", "munged")
#: The programs the test runs; all present means nothing needs installing.
PROGRAMS = ("slurmctld", "slurmd", "munged", "sbatch")


def _installed() -> bool:
    return all(shutil.which(program) for program in PROGRAMS)


def unavailable_reason() -> str | None:
    """Why this machine cannot host the test cluster, or None when it can."""
    if os.geteuid() != 0:
        return "needs root to install slurm-wlm and munge and to run slurmctld/slurmd"
    if not _installed() and not shutil.which("apt-get"):
        return "slurm-wlm and munge are not installed and apt-get is not available"
    if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
        return f"{DEFAULT_CONF} exists: this machine has a SLURM cluster the test must not touch"
    return None


def install() -> None:
    """Install slurm-wlm and munge with apt unless their daemons are already there."""
    if _installed():
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", *PACKAGES], check=True, env=env, capture_output=True
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


class LocalSlurm:
    """Start munged, slurmctld and slurmd in ``root``; :meth:`stop` ends every one of them.

    The node is declared with ``cpus`` and ``memory_mb`` (``SlurmdParameters=config_overrides``
    lets it claim more than the machine has), so a profile's real requests (8 CPUs, 64 GB for
    BM25 at paper scale) are accepted and run here, one after another.
    """

    def __init__(self, root: Path, cpus: int = 16, memory_mb: int = 128000) -> None:
        self.root = Path(root)
        self.host = socket.gethostname().split(".")[0]
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.pids: dict[str, int] = {}

    def _write_files(self) -> None:
        r = self.root
        for sub in ("spool", "state", "log"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        r.chmod(0o755)  # munge requires its socket's folder to be reachable
        key = r / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=slimrank-test",
                    f"SlurmctldHost={self.host}",
                    f"SlurmctldPort={_free_port()}",
                    f"SlurmdPort={_free_port()}",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={r / 'munge.socket'}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    f"StateSaveLocation={r / 'state'}",
                    f"SlurmdSpoolDir={r / 'spool'}",
                    f"SlurmctldPidFile={r / 'slurmctld.pid'}",
                    f"SlurmdPidFile={r / 'slurmd.pid'}",
                    f"SlurmctldLogFile={r / 'log/slurmctld.log'}",
                    f"SlurmdLogFile={r / 'log/slurmd.log'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "SchedulerType=sched/backfill",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "SlurmdParameters=config_overrides",
                    "ReturnToService=2",
                    # keep finished jobs visible to scontrol for the checks
                    "MinJobAge=3600",
                    "MpiDefault=none",
                    f"NodeName={self.host} CPUs={self.cpus} RealMemory={self.memory_mb} "
                    "State=UNKNOWN",
                    "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )

    def _start(self, name: str, command: list[str], pid_file: Path) -> None:
        subprocess.run(command, check=True, env=self.env, capture_output=True)
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text().strip():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} wrote no pid file {pid_file}")
            time.sleep(0.1)
        self.pids[name] = int(pid_file.read_text().split()[0])

    def start(self) -> LocalSlurm:
        self._write_files()
        r = self.root
        self._start(
            "munged",
            [
                "munged",
                "--force",
                f"--socket={r / 'munge.socket'}",
                f"--key-file={r / 'munge.key'}",
                f"--log-file={r / 'log/munged.log'}",
                f"--pid-file={r / 'munged.pid'}",
                f"--seed-file={r / 'munged.seed'}",
            ],
            r / "munged.pid",
        )
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(self.conf)
        self._start("slurmctld", ["slurmctld", "-f", str(self.conf)], r / "slurmctld.pid")
        self._start("slurmd", ["slurmd", "-f", str(self.conf)], r / "slurmd.pid")
        self.wait_idle()
        return self

    def wait_idle(self, timeout: float = 60) -> None:
        """Wait until the node reports idle to the controller."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            done = subprocess.run(
                ["sinfo", "--noheader", "--format=%T"], env=self.env, capture_output=True, text=True
            )
            state = done.stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the SLURM node did not become idle (state {state!r}); see {self.root}")

    def stop(self) -> list[str]:
        """Cancel every job, end the daemons; returns the names of any that had to be killed."""
        subprocess.run(["scancel", "--full", "--user=root"], env=self.env, capture_output=True)
        killed = []
        for name in DAEMONS:
            pid = self.pids.get(name)
            if pid is None or not _alive(pid):
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                killed.append(name)
        if DEFAULT_CONF.is_symlink() and DEFAULT_CONF.resolve() == self.conf.resolve():
            DEFAULT_CONF.unlink()
        return killed

    def running(self) -> list[str]:
        """Names of this cluster's daemons still alive."""
        return [name for name, pid in self.pids.items() if _alive(pid)]
