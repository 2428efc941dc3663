"""Launch "nodes" on this machine the way a cluster does: one `torchrun` per node, each in its own process group
(so that a test can kill a whole node, its agent and its workers, at once), rendezvous on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_command(node_rank: int, nnodes: int, port: int, *args: str) -> list[str]:
    """One node's launch of `asr fit ARGS` with one process on it, exactly as a person types it (README)."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nnodes), "--nproc-per-node", "1",
            "--node-rank", str(node_rank), "--master-addr", "127.0.0.1", "--master-port", str(port),
            "-m", "asr.cli", "fit", *args]


class Nodes:
    """`nnodes` torchrun launches of `asr fit ARGS` in `cwd`, their output in `cwd/<name>-node<R>.log`; `env_of`
    adds variables to one node's environment."""

    def __init__(self, cwd: Path, name: str, args: list[str], nnodes: int = 2,
                 env_of: dict[int, dict] | None = None) -> None:
        port = free_port()
        self.logs = [cwd / f"{name}-node{r}.log" for r in range(nnodes)]
        self.procs = []
        for r in range(nnodes):
            env = {**os.environ, "PYTHONPATH": str(HERE), "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
                   **(env_of or {}).get(r, {})}
            with self.logs[r].open("w") as log:
                self.procs.append(subprocess.Popen(torchrun_command(r, nnodes, port, *args), env=env, cwd=cwd,
                                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def tail(self, chars: int = 3000) -> str:
        return "\n".join(f"--- {log.name} ---\n{log.read_text()[-chars:]}" for log in self.logs)

    def wait(self, timeout: float) -> list[int]:
        """The nodes' exit codes; every node killed and an AssertionError when one runs past `timeout` seconds
        (a hang: a rank waiting in a collective for one that will never come)."""
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in self.procs):
            if time.monotonic() > deadline:
                for r in range(len(self.procs)):
                    self.kill(r)
                raise AssertionError(f"the nodes did not finish within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.1)
        return [p.returncode for p in self.procs]

    def kill(self, node: int) -> None:
        """SIGKILL the node, as a power cut would: its torchrun agent's process group and its workers', each of
        which torchrun starts in a session of its own (killing the agent alone leaves them running)."""
        proc = self.procs[node]
        for group in [proc.pid, *_children(proc.pid)]:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
