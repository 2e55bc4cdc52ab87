"""A real two-node SLURM cluster on this one machine, for the cluster tests.

Debian's `slurmctld`, `slurmd`, `slurm-client` and `munge` (installed by `.ci/run` with apt). One controller
and two `slurmd -N nodeK` daemons, each node with `NodeAddr=127.0.0.1` and its own port, make a cluster of two
one-CPU nodes; it is up in about a second.

Everything about it is private to the test session: its `slurm.conf` (found through `SLURM_CONF`), its spool
and state folders, its ports (free ones, so that two pytest-xdist workers can each run a cluster side by side)
and its cluster name. munged is shared with the host: it is started when it is not already running, and left
running (other clusters may use it). The daemons this module starts are stopped by the pids it started.

Settings that matter, and why:
    proctrack/linuxproc, task/none      no cgroups (none in a container)
    select/cons_tres with CR_Core       nodes are shared per core, as on a real GPU partition
    jobcomp/filetxt                     finished jobs are recorded in a file, so `sacct -c` works without slurmdbd
    KillWait=5                          scancel's SIGTERM-to-SIGKILL grace, short so that the tests are
    EnforcePartLimits=ALL               sbatch refuses a job its partition can never run (5 nodes of 2), as
                                        sites do, instead of leaving it pending (PartitionConfig)
    batch_sched_delay=0                 a submitted job starts at once
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "sacct", "scontrol", "scancel", "sinfo")
NODES = ("node1", "node2")


def missing_programs() -> list[str]:
    """The cluster's programs that are not installed here (empty when the tests can run a cluster)."""
    return [name for name in DAEMONS if shutil.which(name) is None and not Path("/usr/sbin", name).exists()]


def _program(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class SlurmCluster:
    """A running cluster: `env` is what a process needs to talk to it (`SLURM_CONF`)."""

    folder: Path
    conf: Path
    name: str
    env: dict[str, str]
    pids: list[int] = field(default_factory=list)
    _processes: list[subprocess.Popen] = field(default_factory=list, repr=False)

    def run(self, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Runs a SLURM client command against this cluster."""
        return subprocess.run([_program(argv[0]), *argv[1:]], env={**os.environ, **self.env}, text=True,
                              capture_output=True, check=check, timeout=timeout)

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Waits until both nodes are up and take jobs."""
        deadline = time.monotonic() + timeout_s
        states = ""
        while time.monotonic() < deadline:
            states = self.run("sinfo", "-h", "-N", "-o", "%N %t", check=False).stdout
            found = dict(line.split() for line in states.splitlines() if len(line.split()) == 2)
            if all(found.get(node) in ("idle", "mix", "alloc") for node in NODES):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the test cluster did not come up in {timeout_s:.0f} s: sinfo says {states!r}; "
                           f"logs in {self.folder}")

    def stop(self) -> None:
        """Cancels what is left of the tests' jobs and stops the daemons this cluster started, by pid."""
        self.run("scancel", "--full", "-u", os.environ.get("USER", "root"), check=False)
        for process in reversed(self._processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self._processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _conf_text(folder: Path, name: str, ctld_port: int, node_ports: list[int]) -> str:
    host = socket.gethostname().split(".")[0]
    nodes = "\n".join(
        f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 Port={port} CPUs=1 RealMemory=1000 State=UNKNOWN"
        for node, port in zip(NODES, node_ports)
    )
    return f"""\
ClusterName={name}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool/%n
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd-%n.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
JobCompType=jobcomp/filetxt
JobCompLoc={folder}/jobcomp.txt
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
KillWait=5
EnforcePartLimits=ALL
MinJobAge=300
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
{nodes}
PartitionName=debug Nodes={",".join(NODES)} Default=YES MaxTime=INFINITE State=UP
"""


def _ensure_munged() -> None:
    """munged must run for any SLURM daemon or client to authenticate. Start it when it is not running."""
    probe = subprocess.run(["pgrep", "-x", "munged"], capture_output=True)
    if probe.returncode == 0:
        return
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        subprocess.run([_program("mungekey" if shutil.which("mungekey") else "create-munge-key")], check=True,
                       capture_output=True)
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    subprocess.run([_program("munged"), "--force"], check=True, capture_output=True)


def start_cluster(folder: Path) -> SlurmCluster:
    """Starts a two-node cluster whose files live in `folder`, and waits until it takes jobs."""
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    ctld_port, *node_ports = _free_ports(1 + len(NODES))
    name = f"hrmtest{ctld_port}"
    conf = folder / "slurm.conf"
    conf.write_text(_conf_text(folder, name, ctld_port, node_ports))
    _ensure_munged()
    env = {"SLURM_CONF": str(conf)}
    cluster = SlurmCluster(folder=folder, conf=conf, name=name, env=env)
    full_env = {**os.environ, **env}
    log = open(folder / "daemons.out", "ab")
    argvs = [[_program("slurmctld"), "-D", "-i"]] + [[_program("slurmd"), "-D", "-N", node] for node in NODES]
    try:
        for argv in argvs:
            process = subprocess.Popen(argv, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
            cluster._processes.append(process)
            cluster.pids.append(process.pid)
            if argv[0].endswith("slurmctld"):
                time.sleep(0.3)  # the nodes register with the controller: let it listen first
        cluster.wait_idle()
    except BaseException:
        cluster.stop()
        raise
    finally:
        log.close()
    return cluster
