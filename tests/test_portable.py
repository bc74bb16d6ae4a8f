"""presend imports where POSIX-only modules do not exist (Windows has no ``fcntl``): every module
of the package and of the command line is imported in a fresh interpreter in which ``fcntl`` cannot
be imported. The lock itself is portalocker's (flock here, LockFileEx on Windows), taken only when
a run starts; the lock tests (test_run_files, test_resume, test_stopped_runs) hold it to its word.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import cli
import pipeline
from tests.run_helpers import REPO

SCRIPT = """
import importlib, sys
sys.modules["fcntl"] = None  # import fcntl now raises ImportError, as on Windows
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
"""


def modules() -> list[str]:
    names = []
    for package in (pipeline, cli):
        names.append(package.__name__)
        for found in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if not found.name.endswith(".__main__"):  # importing it runs the command line
                names.append(found.name)
    return names


def test_every_module_imports_without_fcntl() -> None:
    names = modules()
    assert "pipeline.io.lock" in names and "pipeline.run" in names and "cli.main" in names
    done = subprocess.run([sys.executable, "-c", SCRIPT, *names], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout


def test_the_check_can_fail() -> None:
    """The same script does report a module that needs fcntl (so an empty answer means something)."""
    done = subprocess.run([sys.executable, "-c", SCRIPT, "fcntl", "pipeline.io.lock"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fcntl: ") and "import of fcntl halted" in lines[0], lines
