"""The configuration file: ``presend.toml`` in the current folder, or ``--config FILE``.

Its sections mirror the option records; each key names the command-line option it stands
for, and an option given on the command line wins over the file::

    out = "reports"          # --out (relative paths are relative to this file's folder)
    keep_risky = true        # --keep-risky
    fail_over = 5            # --fail-over
    log_format = "json"      # --log-format

    [dns]
    nameservers = ["127.0.0.1:5353"]
    timeout = 3.0

    [probe]
    enabled = true
    mail_from = "bounce@mail.example"

    [hygiene]
    role_is_risky = true
    disposable_block = ["throwaway.example"]

    [cache]
    max_age = "7d"

Unknown keys and values of the wrong type are refused with the key and the file named.
"""

from __future__ import annotations

import errno
import re
import stat
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError

#: The file looked for in the current folder when ``--config`` is not given.
DEFAULT_NAME = "presend.toml"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | float, what: str = "--max-age") -> float:
    """Seconds from ``3600``, ``"90s"``, ``"30m"``, ``"12h"``, ``"7d"`` or ``"2w"``."""
    if isinstance(text, bool):
        raise UsageError(f"{what}: expected a duration such as 7d, 12h or 3600, not {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if not match:
            raise UsageError(f"{what}: expected a duration such as 7d, 12h, 30m or 3600 (seconds), not {text!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds < 0:
        raise UsageError(f"{what}: a duration cannot be negative")
    return seconds


# --- value checkers: (value, where) -> converted value, or UsageError -------------------

Checker = Callable[[Any, str, Path], Any]


def _bool(value: Any, where: str, base: Path) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{where} must be true or false, not {value!r}")
    return value


def _int(value: Any, where: str, base: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{where} must be a whole number, not {value!r}")
    return value


def _float(value: Any, where: str, base: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{where} must be a number, not {value!r}")
    return float(value)


def _str(value: Any, where: str, base: Path) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{where} must be a string, not {value!r}")
    return value


def _strs(value: Any, where: str, base: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{where} must be a list of strings, not {value!r}")
    return list(value)


def _path(value: Any, where: str, base: Path) -> Path:
    path = Path(_str(value, where, base)).expanduser()
    return path if path.is_absolute() else base / path


def _duration(value: Any, where: str, base: Path) -> float:
    if not isinstance(value, str | int | float):
        raise UsageError(f"{where} must be a duration such as \"7d\" or 3600, not {value!r}")
    return parse_duration(value, where)


def _log_format(value: Any, where: str, base: Path) -> str:
    text = _str(value, where, base)
    if text not in ("text", "json"):
        raise UsageError(f"{where} must be \"text\" or \"json\", not {text!r}")
    return text


def _negated(check: Checker) -> Checker:
    def inner(value: Any, where: str, base: Path) -> Any:
        return not check(value, where, base)

    return inner


@dataclass(frozen=True, slots=True)
class Key:
    """One recognised key: the ``clean`` parameter it sets and how its value is checked."""

    param: str
    check: Checker


#: (section, key) → Key. Section "" is the top level.
KEYS: dict[tuple[str, str], Key] = {
    ("", "out"): Key("out", _path),
    ("", "email_column"): Key("email_column", _str),
    ("", "encoding"): Key("encoding", _str),
    ("", "keep_risky"): Key("keep_risky", _bool),
    ("", "report_rows"): Key("report_rows", _int),
    ("", "quiet"): Key("quiet", _bool),
    ("", "chunk_size"): Key("chunk_size", _int),
    ("", "workers"): Key("workers", _int),
    ("", "engine"): Key("engine", _str),
    ("", "scheduler"): Key("scheduler", _str),
    ("", "input_url"): Key("input_url", _str),
    ("", "fail_over"): Key("fail_over", _float),
    ("", "log_format"): Key("log_format", _log_format),
    ("", "resume"): Key("resume", _bool),
    ("dns", "enabled"): Key("no_dns", _negated(_bool)),
    ("dns", "nameservers"): Key("nameserver", _strs),
    ("dns", "concurrency"): Key("dns_concurrency", _int),
    ("dns", "timeout"): Key("dns_timeout", _float),
    ("dns", "allow_private_mx"): Key("allow_private_mx", _bool),
    ("probe", "enabled"): Key("probe", _bool),
    ("probe", "mail_from"): Key("mail_from", _str),
    ("probe", "helo"): Key("helo", _str),
    ("probe", "port"): Key("smtp_port", _int),
    ("probe", "retry_after"): Key("retry_after", _float),
    ("probe", "max_retries"): Key("max_retries", _int),
    ("probe", "concurrency"): Key("probe_concurrency", _int),
    ("probe", "per_host"): Key("per_host", _int),
    ("probe", "timeout"): Key("smtp_timeout", _float),
    ("probe", "batch_size"): Key("batch_size", _int),
    ("hygiene", "role_is_risky"): Key("role_risky", _bool),
    ("hygiene", "canonical_duplicates"): Key("canonical_duplicates", _bool),
    ("hygiene", "disposable_allow"): Key("disposable_allow", _strs),
    ("hygiene", "disposable_block"): Key("disposable_block", _strs),
    ("cache", "enabled"): Key("no_cache", _negated(_bool)),
    ("cache", "path"): Key("cache", _path),
    ("cache", "max_age"): Key("max_age", _duration),
}
_SECTIONS = {section for section, _ in KEYS if section}


@dataclass(frozen=True, slots=True)
class Config:
    """The values a configuration file sets, by ``clean`` parameter name."""

    path: Path | None
    values: dict[str, Any]


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


def load_config(path: Path | None) -> Config:
    """Read and check a configuration file (``None`` gives an empty configuration)."""
    if path is None:
        return Config(None, {})
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path}: byte {exc.start + 1} is not UTF-8 text; save the config file as UTF-8"
        ) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    base = path.resolve().parent
    values: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            if name not in _SECTIONS:
                raise UsageError(f"{path}: unknown section [{name}]; known: {', '.join(sorted(_SECTIONS))}")
            for key, item in value.items():
                _set(values, path, base, name, key, item)
        else:
            _set(values, path, base, "", name, value)
    return Config(path, values)


def _set(values: dict[str, Any], path: Path, base: Path, section: str, key: str, value: Any) -> None:
    where = f"{section}.{key}" if section else key
    spec = KEYS.get((section, key))
    if spec is None:
        known = sorted(k for s, k in KEYS if s == section)
        raise UsageError(f"{path}: unknown key {where!r}; known here: {', '.join(known)}")
    values[spec.param] = spec.check(value, f"{path}: {where}", base)
