"""Shared test helpers: lab binaries that skip loudly (or fail under CI), sample files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    message = (
        f"LAB BINARY MISSING: none of {', '.join(names)} is installed; "
        "run scripts/test.sh as root to install the lab's Debian packages"
    )
    if REQUIRE_LAB:
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


def postfix_binaries() -> tuple[str, str]:
    """Paths of postfix and postgrey for a private lab instance (openssl makes its TLS key).

    Skips loudly, or fails under CI, when one is missing or when not running as root (a
    private Postfix instance must be started by root).
    """
    postfix = require_binary("postfix")
    postgrey = require_binary("postgrey")
    require_binary("openssl")
    if os.geteuid() != 0:
        message = "LAB NEEDS ROOT: a private Postfix instance must be started as root"
        if REQUIRE_LAB:
            pytest.fail(message)
        pytest.skip(message)
    return postfix, postgrey


def require_dask() -> str:
    """The ``dask`` command of this environment; skip loudly (fail under CI) without it."""
    from tests.lab.dask_cluster import dask_executable

    found = dask_executable()
    if found is None:
        message = "DASK MISSING: no `dask` command beside this Python; pip install -e '.[test]' installs it"
        if REQUIRE_LAB:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real Dask cluster (``dask scheduler`` + two ``dask worker``) for a whole test module."""
    from tests.lab.dask_cluster import DaskCluster

    with DaskCluster(tmp_path_factory.mktemp("dask"), 2, dask=require_dask()) as cluster:
        yield cluster


@pytest.fixture
def fresh_dask_cluster(tmp_path: Path) -> Iterator[object]:
    """A real Dask cluster of its own, for a test that kills one of its workers."""
    from tests.lab.dask_cluster import DaskCluster

    folder = tmp_path / "dask-cluster"
    folder.mkdir()
    with DaskCluster(folder, 2, dask=require_dask()) as cluster:
        yield cluster


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO
