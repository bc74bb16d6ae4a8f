"""presend.toml / --config, command-line overrides, --max-age, --fail-over, --log-format json."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli.main import app, read_options
from cli.params import SPECS
from cli.settings import CliSettings
from pipeline.config import find_config, load_config, parse_duration
from pipeline.errors import UsageError
from pipeline.options import OptionSpec, RunOptions, flag_of, option_specs

runner = CliRunner()
LIST = "name,email\nAnn,ann@acme-co.com\nBob,bob@example\nCy,cy@acme-co.org\nDee,dee..x@acme-co.org\n"


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
    assert names == ["settings", "run_started", "chunk_committed", "chunk_committed", "level_finished", "note",
                     "run_finished"]
    assert events[5]["message"].startswith("list.csv: first line read as a header: ")
    assert all("time" in e for e in events)
    assert events[2]["rows_done"] == 2 and events[3]["rows_done"] == 4
    assert events[-1]["rows"] == 4 and events[-1]["undeliverable_percent"] == 50.0 and events[-1]["exit"] == 3
    assert result.stdout == ""
    quiet = runner.invoke(app, ["clean", "list.csv", "--no-dns", "--no-cache", "-q", "--log-format", "json"])
    assert [json.loads(line)["event"] for line in quiet.stderr.splitlines()] == ["settings", "note", "run_finished"]
    error = runner.invoke(app, ["clean", "missing.csv", "--no-dns", "--log-format", "json"])
    assert error.exit_code == 2
    settings, event = [json.loads(line) for line in error.stderr.splitlines()]
    assert settings["event"] == "settings"
    assert event["event"] == "error" and event["exit"] == 2 and "missing.csv" in event["message"]


# -- options have one home: the records give the flags, the help and the config keys -------------------

CONFIGURABLE = [spec for spec in SPECS if spec.meta.config]


@contextmanager
def _parsed(*args: str) -> Iterator[typer.Context]:
    """The ``clean`` command's context after click parsed ``args`` (the run is not started)."""
    command = typer.main.get_command(app).commands["clean"]  # type: ignore[attr-defined]
    with command.make_context("clean", list(args)) as ctx:
        yield ctx


def _options(*args: str) -> tuple[CliSettings, RunOptions]:
    with _parsed(*args) as ctx:
        return read_options(ctx, ctx.params)


def _value(spec: OptionSpec, n: int, folder: Path) -> Any:
    """A flag value of ``spec`` other than its default (``n`` = 1 or 2 gives two different ones)."""
    meta = spec.meta
    if spec.kind is bool:
        return not spec.flag_default
    if spec.many:
        return [f"d{n}.example", "e.example"]
    if meta.duration:
        return f"{n}h"
    if meta.choices:
        return [*(choice for choice in meta.choices if choice != spec.flag_default), spec.flag_default][n - 1]
    if spec.kind is Path:
        return str(folder / f"p{n}")
    if spec.kind is int:
        low = int(meta.low or 0)
        return [value for value in range(low + 1, low + 4) if value != spec.default][n - 1]
    if spec.kind is float:
        return (meta.low or 0) + 1.5 * n
    if spec.name == "encoding":
        return ["cp1251", "cp1250"][n - 1]  # a name the run knows (it is checked)
    return f"v{n}@x.example"


def _toml(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def _argv(spec: OptionSpec, value: Any) -> list[str]:
    if isinstance(value, bool):
        return [spec.meta.flag] if value else []
    if isinstance(value, list):
        return [part for item in value for part in (spec.meta.flag, item)]
    return [spec.meta.flag, str(value)]


def _field(settings: CliSettings, options: RunOptions, spec: OptionSpec) -> Any:
    """The field ``spec`` sets, in whichever record holds it."""
    record: Any = settings if spec in option_specs(CliSettings) else options
    return getattr(getattr(record, spec.section) if spec.section else record, spec.field)


def _expected(spec: OptionSpec, value: Any) -> Any:
    """The field's value for a flag value as the command line reads it."""
    return spec.to_field(Path(value) if spec.kind is Path else value)


def _companions(spec: OptionSpec) -> list[str]:
    """What an option needs beside it to be accepted (--scheduler is for dask, --probe needs --mail-from)."""
    if spec.name in ("scheduler", "input_url"):
        return ["--engine", "dask"]
    return ["--mail-from", "a@b.example"] if spec.name == "probe" else []


def test_every_field_of_the_run_options_is_an_option() -> None:
    """A new field without a flag would be unreachable from the command line and the file."""

    def leaves(record: type) -> Iterator[dataclasses.Field[Any]]:
        for spec in dataclasses.fields(record):
            default = spec.default_factory() if spec.default_factory is not dataclasses.MISSING else None
            if dataclasses.is_dataclass(default):
                yield from leaves(type(default))
            else:
                yield spec

    missing = [spec.name for spec in leaves(RunOptions) if flag_of(spec) is None]
    assert missing == []
    names = [spec.name for spec in SPECS]
    assert len(names) == len(set(names)), "two options share a name"
    assert {"engine", "scheduler", "input_url", "config", "fail_over", "log_format", "quiet"} <= set(names)


def test_the_help_lists_every_flag_with_its_help() -> None:
    shown = runner.invoke(app, ["clean", "--help"], env={"COLUMNS": "400"})
    assert shown.exit_code == 0
    text = " ".join(shown.output.split())
    for spec in SPECS:
        if spec.meta.positional or spec.meta.hidden:
            continue
        assert spec.meta.flag in text and " ".join(spec.meta.help.split()) in text, spec.name
    assert "--plain-syntax" not in text


@pytest.mark.parametrize("spec", CONFIGURABLE, ids=lambda spec: spec.name)
def test_a_config_key_for_every_option_round_trips(tmp_path: Path, spec: OptionSpec) -> None:
    """``name = value`` in the file sets the same field as ``--name value`` on the command line."""
    value = _value(spec, 1, tmp_path)
    config = tmp_path / "flat.toml"
    config.write_text(f"{spec.name} = {_toml(value)}\n", encoding="utf-8")
    from_file = _options("list.csv", "--config", str(config), *_companions(spec))
    from_flag = _options("list.csv", *_argv(spec, value), *_companions(spec))
    expected = _expected(spec, value)
    assert _field(*from_file, spec) == _field(*from_flag, spec) == expected
    assert expected != spec.default


@pytest.mark.parametrize("spec", [spec for spec in CONFIGURABLE if spec.section], ids=lambda spec: spec.name)
def test_section_and_flat_spellings_are_the_same_option(tmp_path: Path, spec: OptionSpec) -> None:
    value = _value(spec, 1, tmp_path)
    field_value = spec.to_field(value)
    if spec.meta.duration:
        field_value = value  # durations are written the same in both spellings
    elif spec.many:
        field_value = list(field_value)
    elif isinstance(field_value, Path):
        field_value = str(field_value)
    spellings = {
        "flat": f"{spec.name} = {_toml(value)}\n",
        "section": f"[{spec.section}]\n{spec.field} = {_toml(field_value)}\n",
        "flat in its section": f"[{spec.section}]\n{spec.name} = {_toml(value)}\n",
    }
    loaded = {}
    for label, text in spellings.items():
        path = tmp_path / f"{label.replace(' ', '_')}.toml"
        path.write_text(text, encoding="utf-8")
        loaded[label] = load_config(path, SPECS).values
    assert loaded["flat"] == loaded["section"] == loaded["flat in its section"]
    assert list(loaded["flat"]) == [spec.name]


@pytest.mark.parametrize("spec", [spec for spec in CONFIGURABLE if spec.kind is not bool], ids=lambda spec: spec.name)
def test_the_command_line_beats_the_file_for_every_option(tmp_path: Path, spec: OptionSpec) -> None:
    config = tmp_path / "presend.toml"
    config.write_text(f"{spec.name} = {_toml(_value(spec, 1, tmp_path))}\n", encoding="utf-8")
    wins = _value(spec, 2, tmp_path)
    options = _options("list.csv", "--config", str(config), *_argv(spec, wins), *_companions(spec))
    assert _field(*options, spec) == _expected(spec, wins)


def test_one_option_spelt_twice_in_a_file_is_refused(here: Path) -> None:
    (here / "twice.toml").write_text('no_dns = true\n[dns]\nenabled = true\n', encoding="utf-8")
    result = runner.invoke(app, ["clean", "list.csv", "--config", "twice.toml"])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("presend: error: twice.toml")
    assert "no_dns and dns.enabled set the same option (--no-dns)" in line


def test_the_flat_keys_run_end_to_end(here: Path) -> None:
    """The README's flat spelling, through a whole run."""
    (here / "presend.toml").write_text(
        'no_dns = true\nno_cache = true\nout = "flat"\nchunk_size = 2\nrole_risky = true\nengine = "local"\n'
        'disposable_block = ["spam.example"]\nmax_age = "1d"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["clean", "list.csv", "-q"])
    assert result.exit_code == 0, result.output
    options = _summary(here / "flat")["options"]
    assert isinstance(options, dict)
    assert options["dns"]["enabled"] is False and options["cache"]["enabled"] is False
    assert options["chunk_size"] == 2 and options["hygiene"]["role_is_risky"] is True
    assert options["hygiene"]["disposable_block"] == ["spam.example"] and options["cache"]["max_age"] == 86400.0
    assert options["engine"] == "local"


def test_the_command_line_settings_are_config_keys_but_not_config_itself(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('fail_over = 5\nlog_format = "json"\nquiet = true\n', encoding="utf-8")
    assert load_config(path, SPECS).values == {"fail_over": 5.0, "log_format": "json", "quiet": True}
    path.write_text('config = "other.toml"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="unknown key 'config'"):
        load_config(path, SPECS)
    # Without the command line's settings (a Python caller), only the run options are keys.
    path.write_text("fail_over = 5\n", encoding="utf-8")
    with pytest.raises(UsageError, match="unknown key 'fail_over'"):
        load_config(path)


def test_the_readme_example_is_a_config_file_presend_reads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "presend.toml").write_text(example, encoding="utf-8")
    values = load_config(tmp_path / "presend.toml", SPECS).values
    assert values["dns_timeout"] == 3.0 and values["probe"] is True and values["max_age"] == 7 * 86400.0
    assert values["engine"] == "processes" and values["fail_over"] == 5.0
