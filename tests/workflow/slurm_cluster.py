"""A real one-node SLURM (Debian's slurm-wlm + munge) in a temp folder, for the cluster tests.

`start_cluster(root)` writes a minimal slurm.conf under `root` (and a copy at /etc/slurm/slurm.conf,
where srun inside jobs finds it, when no file is there), starts munged (unless one already runs),
slurmctld and slurmd in the foreground as child processes, and waits until `sinfo` shows the node
idle. `SlurmCluster.stop()` ends exactly the processes it started, by their ids, and removes the copy
it wrote. Every daemon logs into `root/log/`; `SlurmCluster.log_tails()` gives their last lines.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .helpers import Unavailable, apt_install

log = logging.getLogger(__name__)

MUNGE_KEY = Path("/etc/munge/munge.key")
# Where srun looks without SLURM_CONF: the slurm executor's job steps drop every SLURM_* variable
# (snakemake-executor-plugin-slurm-jobstep) before calling srun, so a job needs the conf here.
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
REAL_MEMORY_MB = 20000  # what the node offers jobs (the machines have 24 GB)


class ClusterUnavailable(Unavailable):
    """SLURM cannot be set up here (not root, no apt-get, install failed): the test skips with this reason."""


def _free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def install_slurm() -> None:
    """`apt-get install slurm-wlm munge` when slurmctld is missing (root and apt-get needed)."""
    try:
        apt_install(["slurm-wlm", "munge"], ["slurmctld", "munged"])
    except Unavailable as exc:
        raise ClusterUnavailable(str(exc)) from exc


def slurm_conf(root: Path, host: str, cpus: int, ports: tuple[int, int]) -> str:
    """A minimal one-node, one-partition slurm.conf keeping state, spool and logs under `root`."""
    return "\n".join([
        "ClusterName=talkhead-test",
        f"SlurmctldHost={host}",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"SlurmctldPort={ports[0]}",
        f"SlurmdPort={ports[1]}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "ReturnToService=2",
        "MinJobAge=600",  # finished jobs stay visible to `squeue`, the status command without accounting
        "SchedulerType=sched/backfill",
        "SchedulerParameters=sched_interval=1",  # (a plain sched_interval only affects the main scheduler)
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
        f"NodeName={host} CPUs={cpus} RealMemory={REAL_MEMORY_MB} State=UNKNOWN",
        f"PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def _ensure_munge_key() -> None:
    """/etc/munge/munge.key (1024 random bits, 0400, owned by munge when that user exists)."""
    if MUNGE_KEY.is_file():
        return
    MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("mungekey"):
        subprocess.run(["mungekey", "--create", "--keyfile", str(MUNGE_KEY)], check=True, capture_output=True)
    else:
        MUNGE_KEY.write_bytes(os.urandom(128))
    os.chmod(MUNGE_KEY, 0o400)
    if _has_user("munge"):
        shutil.chown(MUNGE_KEY, "munge", "munge")


def _has_user(name: str) -> bool:
    """True when the system has user `name`."""
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@dataclass
class SlurmCluster:
    """The running one-node cluster: its conf, the environment clients need, and the daemons we started."""

    root: Path
    conf: Path
    host: str
    cpus: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    wrote_default_conf: bool = False

    @property
    def env(self) -> dict[str, str]:
        """os.environ plus SLURM_CONF, for sbatch/squeue/sinfo and Snakemake's slurm executor."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def sinfo(self) -> str:
        """`sinfo -h -o '%n %t'`: node name and state (or the error text)."""
        proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], env=self.env, capture_output=True, text=True,
                              timeout=30)
        return (proc.stdout + proc.stderr).strip()

    def log_tails(self, lines: int = 40) -> str:
        """The last lines of every daemon log (for a failure message)."""
        parts = []
        for path in sorted((self.root / "log").glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s, to exactly the daemons this object started (slurmd first)."""
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.wrote_default_conf and DEFAULT_CONF.read_text() == self.conf.read_text():
            DEFAULT_CONF.unlink()
            self.wrote_default_conf = False


def _start(cluster: SlurmCluster, name: str, cmd: list[str]) -> None:
    """Start one daemon in the foreground as our child, its output in root/log/<name>.out."""
    out = open(cluster.root / "log" / f"{name}.out", "wb")  # noqa: SIM115 (lives as long as the daemon)
    cluster.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=cluster.env,
                                           start_new_session=True)


def _munge_running() -> bool:
    """True when a munged answers (`munge -n | unmunge`)."""
    if not shutil.which("munge"):
        return False
    enc = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
    return enc.returncode == 0 and subprocess.run(["unmunge"], input=enc.stdout, capture_output=True,
                                                   timeout=10).returncode == 0


def start_cluster(root: Path, timeout_s: float = 60) -> SlurmCluster:
    """Install if needed, write the conf under `root`, start munged/slurmctld/slurmd, wait for an idle node."""
    if os.geteuid() != 0:
        raise ClusterUnavailable("a test SLURM needs root (it starts munged, slurmctld and slurmd)")
    install_slurm()
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(exist_ok=True)
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    conf = root / "slurm.conf"
    conf.write_text(slurm_conf(root, host, cpus, (_free_port(), _free_port())))
    cluster = SlurmCluster(root, conf, host, cpus)
    if DEFAULT_CONF.exists():
        raise ClusterUnavailable(f"{DEFAULT_CONF} exists (a real SLURM here?); the test cluster would replace it")
    DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(conf, DEFAULT_CONF)
    cluster.wrote_default_conf = True
    try:
        if not _munge_running():
            _ensure_munge_key()
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            _start(cluster, "munged", ["munged", "--foreground", "--force",
                                       "--log-file", str(root / "log" / "munged.log")])
            _wait(lambda: _munge_running(), 15, "munged did not answer", cluster)
        _start(cluster, "slurmctld", ["slurmctld", "-D", "-i", "-f", str(conf)])
        _start(cluster, "slurmd", ["slurmd", "-D", "-f", str(conf)])
        _wait(lambda: cluster.sinfo().split()[-1:] == ["idle"], timeout_s, "the node never became idle", cluster)
    except BaseException:
        cluster.stop()
        raise
    log.info("SLURM up on %s (%d CPUs), conf %s", host, cpus, conf)
    return cluster


def _wait(ready, timeout_s: float, what: str, cluster: SlurmCluster) -> None:
    """Poll `ready()` every 0.5 s; raise with the daemons' logs after `timeout_s`."""
    deadline, dead = time.monotonic() + timeout_s, []
    while time.monotonic() < deadline:
        if ready():
            return
        dead = [n for n, p in cluster.procs.items() if p.poll() is not None]
        if dead:
            break
        time.sleep(0.5)
    raise RuntimeError(f"{what} (sinfo: {cluster.sinfo()!r}; exited: {dead or 'none'})\n{cluster.log_tails()}")
