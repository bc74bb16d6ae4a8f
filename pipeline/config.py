"""The configuration file: ``presend.toml`` in the current folder, or ``--config FILE``.

Its keys come from the option records (pipeline.options), never from a table of their own:
a key is an option's flag name with ``_`` (``no_dns = true``, ``dns_timeout = 3``,
``mail_from = "..."``); sections are optional and hold the record's field names
(``[dns] timeout = 3`` is the same option as ``dns_timeout = 3``)::

    out = "reports"          # --out (relative paths are relative to this file's folder)
    keep_risky = true        # --keep-risky
    engine = "processes"     # --engine
    fail_over = 5            # --fail-over (a setting of the command line's own record)

    [dns]
    nameservers = ["127.0.0.1:5353"]
    timeout = 3.0

    [probe]
    enabled = true
    mail_from = "bounce@mail.example"

    [cache]
    max_age = "7d"

:func:`load_config` checks each value against its option's kind and gives them by option
name, ready to be a command's defaults (click's ``default_map``), so a value on the command
line wins over the file. Unknown keys and values of the wrong type are refused with the key
and the file named.
"""

from __future__ import annotations

import errno
import stat
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError
from pipeline.options import OptionSpec, RunOptions, one_of, option_specs, parse_duration, parse_schedule

__all__ = ["DEFAULT_NAME", "Config", "find_config", "load_config", "parse_duration"]

#: The file looked for in the current folder when ``--config`` is not given.
DEFAULT_NAME = "presend.toml"


@dataclass(frozen=True, slots=True)
class Config:
    """The values a configuration file sets, by option name (as the flag holds them)."""

    path: Path | None
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Key:
    """One accepted spelling: the option it sets, and whether it is spelt as the field (not the flag)."""

    spec: OptionSpec
    as_field: bool


def find_config(explicit: Path | None, cwd: Path | None = None) -> Path | None:
    """The file to read: ``explicit`` (which must exist), else ``presend.toml`` here, else None."""
    if explicit is not None:
        _check_file(explicit)
        return explicit
    candidate = (cwd or Path.cwd()) / DEFAULT_NAME
    return candidate if candidate.is_file() else None


def _check_file(path: Path) -> None:
    """Raise UsageError, with the true cause, unless ``path`` is a file that can be opened."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UsageError(f"--config: {path}: no such file") from None
    except OSError as exc:
        cause = "a loop of symbolic links" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise UsageError(f"--config: {path}: cannot be opened ({cause}); give a presend.toml file") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"--config: {path} is a folder; give the path of a presend.toml file")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"--config: {path} is not a regular file; give the path of a presend.toml file")


def load_config(path: Path | None, specs: Sequence[OptionSpec] | None = None) -> Config:
    """Read and check a configuration file (``None`` gives an empty configuration).

    ``specs`` are the options the file may set (default: those of :class:`RunOptions`; the
    CLI adds its own settings).
    """
    if path is None:
        return Config(None, {})
    data = _read_toml(path)
    keys = config_keys(option_specs(RunOptions) if specs is None else specs)
    base = path.resolve().parent
    values: dict[str, Any] = {}
    spelt: dict[str, str] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            if not any(section == name for section, _ in keys):
                known = sorted({section for section, _ in keys if section})
                raise UsageError(f"{path}: unknown section [{name}]; known: {', '.join(known)}")
            for key, item in value.items():
                _set(values, spelt, keys, path, base, (name, key), item)
        else:
            _set(values, spelt, keys, path, base, ("", name), value)
    return Config(path, values)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: byte {exc.start + 1} is not UTF-8 text; save the config file as UTF-8") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None


def config_keys(specs: Sequence[OptionSpec]) -> dict[tuple[str, str], _Key]:
    """Every accepted (section, key) spelling of each option.

    The flat option name at the top and in its own section; the field name in its record
    (the top level is :class:`RunOptions` itself).
    """
    keys: dict[tuple[str, str], _Key] = {}
    for spec in specs:
        if not spec.meta.config:
            continue
        keys[("", spec.name)] = _Key(spec, as_field=False)
        keys[(spec.section, spec.field)] = _Key(spec, as_field=True)
        if spec.section:
            keys[(spec.section, spec.name)] = _Key(spec, as_field=False)
    return keys


def _set(
    values: dict[str, Any], spelt: dict[str, str], keys: dict[tuple[str, str], _Key], path: Path, base: Path,
    where: tuple[str, str], value: Any,
) -> None:
    section, key = where
    named = f"{section}.{key}" if section else key
    found = keys.get(where)
    if found is None:
        known = sorted(k for s, k in keys if s == section)
        raise UsageError(f"{path}: unknown key {named!r}; known here: {', '.join(known)}")
    spec = found.spec
    if spec.name in spelt:
        raise UsageError(f"{path}: {spelt[spec.name]} and {named} set the same option ({spec.meta.flag}); keep one")
    checked = check_config_value(spec, value, f"{path}: {named}", base)
    values[spec.name] = spec.from_field(checked) if found.as_field else checked
    spelt[spec.name] = named


def check_config_value(spec: OptionSpec, value: Any, where: str, base: Path) -> Any:
    """``value`` checked against the option's kind (paths made absolute from ``base``), or UsageError."""
    if spec.many:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise UsageError(f"{where} must be a list of strings, not {value!r}")
        return list(value)
    if spec.meta.schedule:
        if isinstance(value, bool) or not isinstance(value, str | int | float | list):
            raise UsageError(f"{where} must be seconds or a schedule such as \"60,300,900\", not {value!r}")
        return spec.from_field(parse_schedule(value, where))
    if spec.meta.duration:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise UsageError(f"{where} must be a duration such as \"7d\" or 3600, not {value!r}")
        return parse_duration(value, where)
    if spec.kind is bool:
        if not isinstance(value, bool):
            raise UsageError(f"{where} must be true or false, not {value!r}")
        return value
    if spec.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{where} must be a whole number, not {value!r}")
        return value
    if spec.kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"{where} must be a number, not {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise UsageError(f"{where} must be a string, not {value!r}")
    if spec.meta.choices and value not in spec.meta.choices:
        raise UsageError(f"{where} must be {one_of(spec.meta.choices, quote=chr(34))}, not {value!r}")
    if spec.kind is Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path
    return value
