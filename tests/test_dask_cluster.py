"""The real-cluster fixture: tasks run in the worker processes, and survive a killed worker."""

from __future__ import annotations

import os
import time
from pathlib import Path

from distributed import Client

from tests.lab.dask_cluster import REPO, DaskCluster

#: Seconds any one step may take before the test gives up (a hang fails, it never passes).
PATIENCE = 30


def _worker_of(cluster: DaskCluster, pid: int) -> int:
    """Which worker (0-based) runs process ``pid``; -1 when none does."""
    return next((i for i in range(len(cluster.workers)) if pid in cluster.pids(i)), -1)


def _connected(client: Client) -> set[str]:
    return {worker["name"] for worker in client.scheduler_info(n_workers=-1)["workers"].values()}


def test_tasks_run_on_the_workers_and_outlive_a_killed_one(fresh_dask_cluster: DaskCluster) -> None:
    cluster = fresh_dask_cluster
    assert cluster.address.startswith("tcp://127.0.0.1:")
    assert len(cluster.workers) == 2 and all(worker.poll() is None for worker in cluster.workers)
    with Client(cluster.address, timeout=f"{PATIENCE}s") as client:
        assert _connected(client) == {"w1", "w2"}
        # os.getpid is pickled by reference: it runs in whichever worker process gets it.
        pids = client.gather([client.submit(os.getpid, pure=False) for _ in range(8)])
        assert os.getpid() not in pids
        assert all(_worker_of(cluster, pid) in (0, 1) for pid in pids), (pids, cluster.pids(0), cluster.pids(1))

        cluster.kill_worker(0)
        assert cluster.workers[0].poll() is not None and cluster.pids(0) == []
        deadline = time.monotonic() + PATIENCE
        while _connected(client) != {"w2"} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _connected(client) == {"w2"}
        after = client.submit(os.getpid, pure=False).result(timeout=PATIENCE)
        assert _worker_of(cluster, after) == 1


def test_the_shared_cluster_runs_tasks_on_both_workers(dask_cluster: DaskCluster) -> None:
    # Tasks pinned to each worker by name run in that worker's own processes.
    with Client(dask_cluster.address, timeout=f"{PATIENCE}s") as client:
        for number, name in enumerate(("w1", "w2")):
            pid = client.submit(os.getpid, pure=False, workers=[name]).result(timeout=PATIENCE)
            assert _worker_of(dask_cluster, pid) == number
        # The workers import this checkout's pipeline, the code the tests run (eval goes by reference).
        where = client.submit(eval, "__import__('pipeline').__file__", pure=False).result(timeout=PATIENCE)
        assert Path(where).resolve() == REPO / "pipeline" / "__init__.py"
