"""presend.toml / --config, command-line overrides, --max-age, --fail-over, --log-format json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from pipeline.config import find_config, load_config, parse_duration
from pipeline.errors import UsageError

runner = CliRunner()
LIST = "name,email\nAnn,ann@example.com\nBob,bob@example\nCy,cy@example.org\nDee,dee..x@example.org\n"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "list.csv").write_text(LIST, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _summary(folder: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((folder / "list.summary.json").read_text(encoding="utf-8"))
    return data


def test_presend_toml_in_the_current_folder_is_applied(here: Path) -> None:
    (here / "presend.toml").write_text(
        'out = "from-config"\nchunk_size = 2\nkeep_risky = true\n[dns]\nenabled = false\n'
        '[hygiene]\nrole_is_risky = true\ndisposable_block = ["spam.example"]\n'
        '[cache]\nenabled = false\nmax_age = "12h"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["clean", "list.csv", "-q"])
    assert result.exit_code == 0, result.output
    options = _summary(here / "from-config")["options"]
    assert isinstance(options, dict)
    assert options["chunk_size"] == 2 and options["keep_risky"] is True
    assert options["dns"]["enabled"] is False
    assert options["hygiene"]["role_is_risky"] is True
    assert options["hygiene"]["disposable_block"] == ["spam.example"]
    assert options["cache"] == {"enabled": False, "path": None, "max_age": 43200.0}


def test_command_line_flags_override_the_file(here: Path) -> None:
    config = here / "elsewhere.toml"
    config.write_text('out = "cfg-out"\nchunk_size = 2\n[dns]\nenabled = false\n', encoding="utf-8")
    result = runner.invoke(
        app, ["clean", "list.csv", "-q", "--config", str(config), "--out", "cli-out", "--chunk-size", "3", "--no-cache"]
    )
    assert result.exit_code == 0, result.output
    options = _summary(here / "cli-out")["options"]
    assert isinstance(options, dict)
    assert options["chunk_size"] == 3  # the flag wins
    assert options["dns"]["enabled"] is False  # the file still fills what the flags leave
    assert not (here / "cfg-out").exists()


def test_relative_paths_in_a_config_file_are_relative_to_it(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "p.toml").write_text('out = "reports"\n[cache]\npath = "c.sqlite3"\n', encoding="utf-8")
    config = load_config(folder / "p.toml")
    assert config.values["out"] == folder.resolve() / "reports"
    assert config.values["cache"] == folder.resolve() / "c.sqlite3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[dns]\nbogus = 1\n", "unknown key 'dns.bogus'"),
        ("colour = 'red'\n", "unknown key 'colour'"),
        ("[smtp]\nport = 25\n", "unknown section [smtp]"),
        ("chunk_size = 'big'\n", "chunk_size must be a whole number, not 'big'"),
        ("[dns]\ntimeout = true\n", "dns.timeout must be a number, not True"),
        ("[hygiene]\ndisposable_allow = 'x.example'\n", "hygiene.disposable_allow must be a list of strings"),
        ("[cache]\nmax_age = '3 fortnights'\n", "expected a duration"),
        ("log_format = 'xml'\n", 'log_format must be "text" or "json"'),
        ("out = [\n", "not valid TOML"),
    ],
)
def test_bad_files_exit_2_naming_the_key_and_file(here: Path, text: str, message: str) -> None:
    (here / "bad.toml").write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["clean", "list.csv", "--no-dns", "--config", "bad.toml"])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("presend: error: bad.toml")
    assert message in line


def test_missing_config_file_is_a_usage_error(here: Path) -> None:
    result = runner.invoke(app, ["clean", "list.csv", "--no-dns", "--config", "nope.toml"])
    assert result.exit_code == 2
    assert "--config: nope.toml: no such file" in result.stderr
    with pytest.raises(UsageError):
        find_config(here / "nope.toml")
    assert find_config(None, here) is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("3600", 3600.0), ("90s", 90.0), ("30m", 1800.0), ("12h", 43200.0), ("7d", 604800.0),
                          ("2w", 1209600.0), ("1.5h", 5400.0), (45, 45.0)],
)
def test_max_age_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_max_age_on_the_command_line(here: Path) -> None:
    result = runner.invoke(app, ["clean", "list.csv", "--no-dns", "-q", "--max-age", "7d", "--cache", "c.sqlite3"])
    assert result.exit_code == 0, result.output
    summary = _summary(here)
    assert summary["verdicts_from_cache"] == {"cache_enabled": True, "max_age_seconds": 604800.0}
    bad = runner.invoke(app, ["clean", "list.csv", "--no-dns", "--max-age", "soon"])
    assert bad.exit_code == 2
    assert "--max-age: expected a duration" in bad.stderr


def test_fail_over_exits_3_above_the_threshold(here: Path) -> None:
    # 2 of 4 rows are undeliverable: 50 %.
    above = runner.invoke(app, ["clean", "list.csv", "--no-dns", "-q", "--no-cache", "--fail-over", "49.9"])
    assert above.exit_code == 3
    assert "50.0% of rows are undeliverable, above --fail-over 49.9%" in above.stderr
    assert (here / "list.results.csv").exists()  # the outputs are written all the same
    below = runner.invoke(app, ["clean", "list.csv", "--no-dns", "-q", "--no-cache", "--fail-over", "50"])
    assert below.exit_code == 0


def test_json_log_is_one_event_per_line(here: Path) -> None:
    result = runner.invoke(
        app,
        ["clean", "list.csv", "--no-dns", "--no-cache", "--chunk-size", "2", "--log-format", "json",
         "--fail-over", "10"],
    )
    assert result.exit_code == 3
    events = [json.loads(line) for line in result.stderr.splitlines()]
    names = [e["event"] for e in events]
    assert names == ["run_started", "chunk_committed", "chunk_committed", "level_finished", "note", "run_finished"]
    assert events[4]["message"].startswith("list.csv: first line read as a header: ")
    assert all("time" in e for e in events)
    assert events[1]["rows_done"] == 2 and events[2]["rows_done"] == 4
    assert events[-1]["rows"] == 4 and events[-1]["undeliverable_percent"] == 50.0 and events[-1]["exit"] == 3
    assert result.stdout == ""
    quiet = runner.invoke(app, ["clean", "list.csv", "--no-dns", "--no-cache", "-q", "--log-format", "json"])
    assert [json.loads(line)["event"] for line in quiet.stderr.splitlines()] == ["note", "run_finished"]
    error = runner.invoke(app, ["clean", "missing.csv", "--no-dns", "--log-format", "json"])
    assert error.exit_code == 2
    (event,) = [json.loads(line) for line in error.stderr.splitlines()]
    assert event["event"] == "error" and event["exit"] == 2 and "missing.csv" in event["message"]
