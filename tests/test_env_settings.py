"""``PRESEND_*`` environment settings, the sources logged at start, command-line errors in JSON (issue 16).

The runs are real ``python -m cli clean`` processes with --no-dns and a three-row list; the
environment each gets is the test's own (no ``PRESEND_*`` leaks in from the caller's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import typer

from cli.main import app
from cli.params import SPECS
from tests.run_helpers import one_error_line

REPO = Path(__file__).resolve().parent.parent
LIST = "name,email\nAnn,ann@example.com\nBob,bob@example\nCy,cy@example.org\n"
#: The default chunk size (pipeline.options), the option the precedence tests follow.
DEFAULT_CHUNK = next(spec.default for spec in SPECS if spec.name == "chunk_size")


@pytest.fixture
def here(tmp_path: Path) -> Path:
    (tmp_path / "list.csv").write_text(LIST, encoding="utf-8")
    return tmp_path


def _env(**settings: str) -> dict[str, str]:
    """The caller's environment without its PRESEND_* variables, with ``settings`` added."""
    base = {name: value for name, value in os.environ.items() if not name.startswith("PRESEND_")}
    return {**base, "PYTHONPATH": str(REPO), **settings}


def _clean(folder: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``python -m cli clean list.csv --no-dns --no-cache ARGS`` in ``folder`` with PRESEND_* ``settings``."""
    command = [sys.executable, "-m", "cli", "clean", "list.csv", "--no-dns", "--no-cache", *args]
    return subprocess.run(command, cwd=folder, env=_env(**settings), capture_output=True, text=True, timeout=120)


def _options(folder: Path) -> dict[str, Any]:
    summary = json.loads((folder / "list.summary.json").read_text(encoding="utf-8"))
    options: dict[str, Any] = summary["options"]
    return options


def _events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines()]


@contextmanager
def _parsed(*args: str) -> Iterator[typer.Context]:
    """The ``clean`` command's context after click parsed ``args`` (no run)."""
    command = typer.main.get_command(app).commands["clean"]  # type: ignore[attr-defined]
    with command.make_context("clean", list(args)) as ctx:
        yield ctx


# -- item 1: an environment variable for every option -----------------------------------------------


def test_every_option_has_the_variable_its_flag_names() -> None:
    command = typer.main.get_command(app).commands["clean"]  # type: ignore[attr-defined]
    options = [param for param in command.params if param.param_type_name == "option"]
    assert len(options) == len([spec for spec in SPECS if not spec.meta.positional]) > 20
    for param in options:
        flag = max(param.opts, key=len)
        assert param.envvar == "PRESEND_" + flag.lstrip("-").replace("-", "_").upper(), flag


@pytest.mark.parametrize(("flag", "env", "config", "expected"), [
    ("4", "3", "2", 4),
    (None, "3", "2", 3),
    (None, None, "2", 2),
    (None, None, None, DEFAULT_CHUNK),
])
def test_precedence_is_flag_then_environment_then_config_file_then_default(
    here: Path, flag: str | None, env: str | None, config: str | None, expected: int,
) -> None:
    if config is not None:
        (here / "presend.toml").write_text(f"chunk_size = {config}\n", encoding="utf-8")
    args = ["-q", *(["--chunk-size", flag] if flag is not None else [])]
    done = _clean(here, *args, **({"PRESEND_CHUNK_SIZE": env} if env is not None else {}))
    assert done.returncode == 0, done.stderr
    assert _options(here)["chunk_size"] == expected


@pytest.mark.parametrize(("value", "enabled"), [("1", False), ("true", False), ("yes", False), ("0", True),
                                                 ("false", True)])
def test_a_switch_is_set_by_a_truth_value(monkeypatch: pytest.MonkeyPatch, value: str, enabled: bool) -> None:
    monkeypatch.setenv("PRESEND_NO_DNS", value)
    with _parsed("list.csv") as ctx:
        assert ctx.params["no_dns"] is not enabled


def test_a_repeatable_option_takes_values_apart_by_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRESEND_NAMESERVER", "127.0.0.1:5353 127.0.0.1:5354")
    monkeypatch.setenv("PRESEND_ENGINE", "local")
    with _parsed("list.csv") as ctx:
        assert ctx.params["nameserver"] == ["127.0.0.1:5353", "127.0.0.1:5354"]
        assert ctx.params["engine"] == "local"
    with _parsed("list.csv", "--nameserver", "127.0.0.1:53") as ctx:
        assert ctx.params["nameserver"] == ["127.0.0.1:53"]  # the flag replaces the whole list


@pytest.mark.parametrize(("variable", "value", "said"), [
    ("PRESEND_DNS_TIMEOUT", "soon", "--dns-timeout"),  # not a number (click's conversion)
    ("PRESEND_WORKERS", "100000", "expected"),  # out of range (the records' check)
    ("PRESEND_MAX_AGE", "a while", "duration"),  # not a duration
    ("PRESEND_ENGINE", "dusk", "expected"),  # not one of the choices
    ("PRESEND_KEEP_RISKY", "maybe", "--keep-risky"),  # not a truth value
    ("PRESEND_CONFIG", "missing.toml", "no such file"),
])
def test_a_bad_value_from_the_environment_names_the_variable(here: Path, variable: str, value: str,
                                                             said: str) -> None:
    done = _clean(here, "--out", "out", **{variable: value})
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert variable in line and said in line
    assert not (here / "out").exists()


# -- item 2: the sources of the settings, logged at start -------------------------------------------------


def test_the_settings_event_names_each_source(here: Path) -> None:
    (here / "presend.toml").write_text("chunk_size = 2\nkeep_risky = true\n", encoding="utf-8")
    done = _clean(here, "--log-format", "json", "--keep-risky", PRESEND_WORKERS="1", PRESEND_QUIET="1")
    assert done.returncode == 0, done.stderr
    events = _events(done.stderr)
    assert [e["event"] for e in events][:1] == ["settings"]
    settings = events[0]
    assert settings["config_file"] == str(here / "presend.toml")
    assert settings["config_options"] == ["chunk_size"]  # keep_risky was given on the command line
    assert sorted(settings["environment"]) == ["PRESEND_QUIET", "PRESEND_WORKERS"]
    assert sorted(settings["command_line"]) == ["--keep-risky", "--log-format", "--no-cache", "--no-dns"]
    assert _options(here)["workers"] == 1 and _options(here)["chunk_size"] == 2


def test_the_text_log_names_the_config_file_and_variables_in_one_note(here: Path) -> None:
    (here / "presend.toml").write_text("chunk_size = 2\n", encoding="utf-8")
    done = _clean(here, PRESEND_WORKERS="1")
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if line.startswith("presend: note: settings from")]
    assert notes == [f"presend: note: settings from {here / 'presend.toml'} (chunk_size) and the environment "
                     "(PRESEND_WORKERS)"]


def test_no_settings_note_when_only_flags_are_used(here: Path) -> None:
    done = _clean(here, "--chunk-size", "2")
    assert done.returncode == 0, done.stderr
    assert "settings" not in done.stderr
    assert "first line read as a header" in done.stderr  # the run's other notes are still there


# -- item 3: command-line errors respect --log-format json, wherever it was set ----------------------------


PARSE_ERRORS = [
    (["--no-such-flag"], "--no-such-flag"),
    (["--chunk-size", "many"], "--chunk-size"),
]


def _json_asked(how: str, folder: Path) -> tuple[list[str], dict[str, str]]:
    """The arguments and environment that ask for JSON logs ``how``."""
    if how == "config":
        (folder / "presend.toml").write_text('log_format = "json"\n', encoding="utf-8")
    return (["--log-format", "json"] if how == "flag" else [],
            {"PRESEND_LOG_FORMAT": "json"} if how == "environment" else {})


@pytest.mark.parametrize("how", ["flag", "environment", "config"])
@pytest.mark.parametrize(("args", "said"), PARSE_ERRORS)
def test_a_command_line_error_is_one_json_event(here: Path, how: str, args: list[str], said: str) -> None:
    extra, settings = _json_asked(how, here)
    done = _clean(here, *extra, *args, **settings)
    assert done.returncode == 2
    (event,) = _events(done.stderr)
    assert event["event"] == "error" and event["exit"] == 2 and said in event["message"]


@pytest.mark.parametrize("how", ["environment", "config"])
def test_a_missing_argument_is_one_json_event(here: Path, how: str) -> None:
    extra, settings = _json_asked(how, here)
    command = [sys.executable, "-m", "cli", "clean", *extra]
    done = subprocess.run(command, cwd=here, env=_env(**settings), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    (event,) = _events(done.stderr)
    assert event["event"] == "error" and "missing argument" in event["message"]


def test_the_flag_beats_the_environment_for_the_error_format(here: Path) -> None:
    done = _clean(here, "--log-format", "text", "--no-such-flag", PRESEND_LOG_FORMAT="json")
    assert done.returncode == 2
    assert "--no-such-flag" in one_error_line(done.stderr)
