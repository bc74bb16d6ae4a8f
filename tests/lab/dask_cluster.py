"""A real Dask cluster on loopback, started the way a user starts one, for tests and benches.

One ``dask scheduler`` and N ``dask worker`` processes (each with its nanny, as users run
them), all on 127.0.0.1 without dashboards, each in its own process group so a worker can be
killed outright (nanny and worker process together: the nanny does not bring it back) and the
whole cluster stopped without leaving anything behind::

    from tests.lab.dask_cluster import DaskCluster, dask_executable

    with DaskCluster(dask_executable(), tmp_path) as cluster:
        cluster.address          # "tcp://127.0.0.1:PORT": pass it as --scheduler
        cluster.kill_worker(0)   # SIGKILL worker 0's process group

The scheduler is started with ``--port 0`` and ``--scheduler-file``; its address is read back
from that file. Starting returns once every worker is connected (``Client.wait_for_workers``).
Processes log into the cluster's folder (``scheduler.log``, ``w1.log`` ...); a start that
fails raises :class:`~tests.lab.dnslab.LabError` with the end of the log that explains it.

The processes run this checkout's code, as the tests do (pytest puts the repository first on
``sys.path``): ``PYTHONPATH`` starts with the repository, so a worker never unpickles tasks
with another copy of ``pipeline`` installed in the environment. Functions defined in a test
module reach them by value only if registered with ``cloudpickle.register_pickle_by_value``.
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
from types import TracebackType

from .dnslab import LabError

HOST = "127.0.0.1"
#: The repository whose code the cluster's processes import first.
REPO = Path(__file__).resolve().parents[2]
#: Seconds to wait for the scheduler file and for the workers to connect.
START_TIMEOUT = 60.0
#: Seconds a process group gets to end after SIGTERM before it is killed.
STOP_GRACE = 10.0


def dask_executable() -> Path:
    """The ``dask`` command of the running interpreter's environment (it may be missing)."""
    return Path(sys.executable).with_name("dask")


def group_members(group: int) -> list[int]:
    """The live (not zombie) processes whose process group is ``group``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # ended while we looked
        # Fields after the command name (which may hold spaces and parentheses).
        fields = stat[stat.rindex(")") + 2 :].split()
        state, process_group = fields[0], int(fields[2])
        if process_group == group and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class DaskCluster:
    """A ``dask scheduler`` and ``workers`` ``dask worker`` processes on 127.0.0.1."""

    def __init__(self, dask: Path, folder: Path, workers: int = 2, threads: int = 2) -> None:
        self.dask = dask
        self.folder = folder
        self.count = workers
        self.threads = threads
        self.address = ""
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> DaskCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the scheduler, then the workers; return once every worker is connected."""
        self.folder.mkdir(parents=True, exist_ok=True)
        scheduler_file = self.folder / "scheduler.json"
        self.scheduler = self._spawn(
            "scheduler",
            ["scheduler", "--host", HOST, "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        )
        self.address = self._read_address(scheduler_file)
        for number in range(1, self.count + 1):
            name = f"w{number}"
            self.workers.append(self._spawn(name, [
                "worker", self.address, "--nworkers", "1", "--nthreads", str(self.threads), "--no-dashboard",
                "--host", HOST, "--name", name, "--local-directory", str(self.folder / name),
            ]))
        self._wait_for_workers(self.count)

    def _spawn(self, name: str, arguments: list[str]) -> subprocess.Popen[bytes]:
        path = os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))
        with (self.folder / f"{name}.log").open("wb") as log:
            return subprocess.Popen(
                [str(self.dask), *arguments], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.folder, env={**os.environ, "PYTHONPATH": path},
                start_new_session=True,  # its own process group
            )

    def _read_address(self, scheduler_file: Path) -> str:
        """The scheduler's address, once it has written its scheduler file."""
        deadline = time.monotonic() + START_TIMEOUT
        assert self.scheduler is not None
        while time.monotonic() < deadline:
            if self.scheduler.poll() is not None:
                raise LabError(f"dask scheduler exited ({self.scheduler.returncode}):\n"
                               f"{_log_tail(self.folder / 'scheduler.log')}")
            try:
                address = json.loads(scheduler_file.read_text(encoding="utf-8"))["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)  # not written yet, or half written
                continue
            return str(address)
        raise LabError(f"dask scheduler wrote no {scheduler_file.name} within {START_TIMEOUT:.0f} s:\n"
                       f"{_log_tail(self.folder / 'scheduler.log')}")

    def _wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=f"{START_TIMEOUT}s") as client:
            try:
                client.wait_for_workers(count, timeout=START_TIMEOUT)
            except TimeoutError as exc:
                logs = "\n".join(f"--- w{i + 1}.log\n{_log_tail(self.folder / f'w{i + 1}.log')}"
                                 for i in range(count))
                raise LabError(f"{count} dask workers did not connect within {START_TIMEOUT:.0f} s:\n{logs}") from exc
            for number, worker in enumerate(self.workers, 1):
                if worker.poll() is not None:
                    raise LabError(f"dask worker w{number} exited ({worker.returncode}):\n"
                                   f"{_log_tail(self.folder / f'w{number}.log')}")

    def pids(self, worker: int) -> list[int]:
        """The live processes of worker ``worker`` (0-based): its nanny and its worker process."""
        return group_members(self.workers[worker].pid)

    def kill_worker(self, worker: int) -> None:
        """SIGKILL worker ``worker`` (0-based): nanny and worker process, with no goodbye."""
        process = self.workers[worker]
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
        _wait_group_gone(process.pid, STOP_GRACE)

    def processes(self) -> list[subprocess.Popen[bytes]]:
        """Every process this cluster started: the scheduler, then the workers."""
        return [*([self.scheduler] if self.scheduler else []), *self.workers]

    def stop(self) -> None:
        """End every process group (SIGTERM, then SIGKILL after a grace period)."""
        processes = list(reversed(self.processes()))  # workers first: they leave the scheduler cleanly
        for process in processes:
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for process in processes:
            if not _wait_group_gone(process.pid, max(0.0, deadline - time.monotonic())):
                _signal_group(process.pid, signal.SIGKILL)
                _wait_group_gone(process.pid, STOP_GRACE)
            try:
                process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def left_running(self) -> list[int]:
        """The processes of this cluster's groups still alive (none after :meth:`stop`)."""
        return [pid for process in self.processes() for pid in group_members(process.pid)]


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has ended already
        os.killpg(group, signum)


def _wait_group_gone(group: int, timeout: float) -> bool:
    """Whether every process of ``group`` ended within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while group_members(group):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
