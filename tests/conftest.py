"""Shared test helpers: lab binaries that skip loudly (or fail under CI), sample files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.lab.dask_cluster import DaskCluster, dask_executable

REPO = Path(__file__).resolve().parent.parent
REQUIRE_LAB = os.environ.get("PRESEND_REQUIRE_LAB") == "1"


def require_binary(*names: str) -> str:
    """Return the path of the first binary found; skip loudly (fail under CI) if none is.

    ``.ci/run`` sets ``PRESEND_REQUIRE_LAB=1`` so a missing lab binary fails the run instead
    of silently skipping the tests that need it.
    """
    for name in names:
        found = shutil.which(name) or next(
            (str(p) for d in ("/usr/sbin", "/usr/lib/postfix/sbin", "/sbin") if (p := Path(d) / name).exists()),
            None,
        )
        if found:
            return found
    lab_missing(
        f"LAB BINARY MISSING: none of {', '.join(names)} is installed; "
        "run scripts/test.sh as root to install the lab's Debian packages"
    )


def lab_missing(message: str) -> NoReturn:
    """Skip loudly with ``message``, or fail under CI (``PRESEND_REQUIRE_LAB=1``, set by ``.ci/run``)."""
    if REQUIRE_LAB:
        pytest.fail(message)
    pytest.skip(message)


def postfix_binaries() -> tuple[str, str]:
    """Paths of postfix and postgrey for a private lab instance (openssl makes its TLS key).

    Skips loudly, or fails under CI, when one is missing or when not running as root (a
    private Postfix instance must be started by root).
    """
    postfix = require_binary("postfix")
    postgrey = require_binary("postgrey")
    require_binary("openssl")
    if os.geteuid() != 0:
        lab_missing("LAB NEEDS ROOT: a private Postfix instance must be started as root")
    return postfix, postgrey


def require_dask() -> Path:
    """The venv's ``dask`` command; skip loudly (fail under CI) without it."""
    dask = dask_executable()
    if not os.access(dask, os.X_OK):
        lab_missing(f"DASK MISSING: no {dask}; install presend's dependencies (pip install -e '.[test]')")
    return dask


def _running_cluster(folder: Path) -> Iterator[DaskCluster]:
    """A started two-worker cluster in ``folder``; stopped after, failing if anything is left running."""
    cluster = DaskCluster(require_dask(), folder, workers=2, threads=2)
    with cluster:
        yield cluster
    left = cluster.left_running()
    assert not left, f"dask processes still running after the cluster stopped: {left}"


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A real Dask cluster on 127.0.0.1, ``dask scheduler`` and two ``dask worker`` (w1, w2), per module.

    Yields a :class:`~tests.lab.dask_cluster.DaskCluster` (``.address``, ``.workers``) once both
    workers are connected; stops every process group after the module's tests and fails if
    anything is left running. Shared by the module's tests: one that kills a worker uses
    :func:`fresh_dask_cluster`. Skips loudly (fails under CI) without the venv's ``dask``.
    """
    yield from _running_cluster(tmp_path_factory.mktemp("dask"))


@pytest.fixture
def fresh_dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A cluster like :func:`dask_cluster` of the test's own, for a test that kills a worker (``.kill_worker(i)``)."""
    yield from _running_cluster(tmp_path_factory.mktemp("dask"))


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO
