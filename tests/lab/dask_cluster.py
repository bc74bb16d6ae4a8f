"""A real Dask cluster on loopback, started the way a user starts one.

``dask scheduler`` and ``dask worker`` (the executables that come with distributed, next to
the test interpreter) run as subprocesses in process groups of their own, on 127.0.0.1, with
no dashboard. The scheduler writes its address to a scheduler file; the cluster is ready once
every worker has joined.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

#: Seconds to wait for the scheduler's file and for the workers to join.
START_SECONDS = 60


def dask_executable() -> str | None:
    """The ``dask`` command of the test interpreter's environment, None when it has none."""
    found = Path(sys.executable).with_name("dask")
    return str(found) if found.exists() else None


class DaskCluster:
    """A scheduler and ``workers`` worker processes; use as a context manager."""

    def __init__(self, folder: Path, workers: int = 2, *, dask: str) -> None:
        self.folder = folder
        self.count = workers
        self.dask = dask
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.address = ""

    def start(self) -> DaskCluster:
        """Start the scheduler, then the workers; return once all of them have joined."""
        scheduler_file = self.folder / "scheduler.json"
        self.scheduler = self._launch("scheduler", [
            self.dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
            "--scheduler-file", str(scheduler_file),
        ])
        self.address = self._read_address(scheduler_file)
        for number in range(1, self.count + 1):
            self.workers.append(self._launch(f"worker{number}", [
                self.dask, "worker", self.address, "--nworkers", "1", "--nthreads", "2", "--no-dashboard",
                "--host", "127.0.0.1", "--name", f"w{number}",
            ]))
        self.wait_for_workers(self.count)
        return self

    def _launch(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.folder)

    def _read_address(self, scheduler_file: Path) -> str:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.scheduler is not None
            if self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited: {self.log('scheduler')}")
            with contextlib.suppress(OSError, ValueError, KeyError):
                return str(json.loads(scheduler_file.read_text())["address"])
            time.sleep(0.1)
        raise RuntimeError(f"dask scheduler wrote no address: {self.log('scheduler')}")

    def wait_for_workers(self, count: int) -> None:
        """Return once ``count`` workers are connected to the scheduler."""
        from distributed import Client

        with Client(self.address, timeout=START_SECONDS, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=START_SECONDS)

    def worker_pids(self) -> set[int]:
        """The process ids of the workers that still run."""
        return {worker.pid for worker in self.workers if worker.poll() is None}

    def kill_worker(self, number: int) -> None:
        """Kill worker ``number`` (from 0) at once (SIGKILL): it dies mid-task, unannounced."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.workers[number].pid, signal.SIGKILL)
        self.workers[number].wait(timeout=10)

    def log(self, name: str) -> str:
        """The end of one process's log (for failure messages)."""
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        """Stop the workers and the scheduler (their whole process groups)."""
        for process in [*self.workers, self.scheduler]:
            if process is None or process.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def __enter__(self) -> DaskCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
