"""Run options: one frozen record per level, gathered in :class:`RunOptions`.

The CLI (and the config file) build these; the library only reads them. The numeric
fields carry their allowed range (:func:`limit`), and :func:`check_options` holds every
record to it, whatever the value came from (a flag, the config file, the environment, a
Python caller), naming the command-line flag in its one-line error.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError

#: Worker processes at most, whatever --workers asks: more than this only adds load.
MAX_WORKERS = max(4, 4 * (os.cpu_count() or 1))


def limit(flag: str, low: float, high: float, *, unit: str = "") -> dict[str, Any]:
    """Field metadata: the flag that sets the field and the closed range its value must lie in."""
    return {"flag": flag, "low": low, "high": high, "unit": unit}


def check_options(options: object) -> None:
    """Raise :class:`UsageError` for the first numeric field of ``options`` out of its range.

    Walks the nested records; a value that is not finite (``inf``, ``nan``) is out of range.
    """
    assert is_dataclass(options)
    for spec in fields(options):
        value = getattr(options, spec.name)
        if is_dataclass(value):
            check_options(value)
        elif "flag" in spec.metadata and value is not None:
            check_value(spec.metadata, value)


class OutOfRange(UsageError):
    """An option value outside its range; ``flag`` names the option."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(message)
        self.flag = flag


def check_value(meta: Any, value: float) -> None:
    """Raise :class:`OutOfRange` when ``value`` lies outside the range of ``meta`` (see :func:`limit`)."""
    low, high, unit = meta["low"], meta["high"], meta["unit"]
    if isinstance(value, bool) or not math.isfinite(value) or not low <= value <= high:
        flag = meta["flag"]
        raise OutOfRange(flag, f"{flag}: expected {_number(low)} to {_number(high)}{unit}, not {value!r}")


def _number(value: float) -> str:
    return f"{value:,.0f}".replace(",", "_") if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True, slots=True)
class DnsOptions:
    """How the DNS level resolves domains."""

    enabled: bool = True
    nameservers: tuple[str, ...] = ()  # "IP" or "IP:PORT"; empty = system resolver
    concurrency: int = field(default=64, metadata=limit("--dns-concurrency", 1, 1024))
    timeout: float = field(default=5.0, metadata=limit("--dns-timeout", 0.1, 300, unit=" seconds"))
    allow_private_mx: bool = False


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """How the mailbox level talks to mail hosts (only when ``enabled``)."""

    enabled: bool = False
    mail_from: str = ""
    helo: str = ""
    port: int = field(default=25, metadata=limit("--smtp-port", 1, 65535))
    retry_after: float = field(default=300.0, metadata=limit("--retry-after", 0, 86_400, unit=" seconds"))
    max_retries: int = field(default=1, metadata=limit("--max-retries", 0, 100))
    concurrency: int = field(default=20, metadata=limit("--probe-concurrency", 1, 1000))
    per_host: int = field(default=2, metadata=limit("--per-host", 1, 100))
    timeout: float = field(default=20.0, metadata=limit("--smtp-timeout", 0.1, 600, unit=" seconds"))
    batch_size: int = field(default=25, metadata=limit("--batch-size", 1, 1000))


@dataclass(frozen=True, slots=True)
class HygieneOptions:
    """List-hygiene policy."""

    role_is_risky: bool = False
    canonical_duplicates: bool = False
    disposable_allow: tuple[str, ...] = ()
    disposable_block: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """The persistent verdict cache."""

    enabled: bool = True
    path: Path | None = None  # None = the user's cache directory
    #: seconds; None = each record's own lifetime
    max_age: float | None = field(default=None, metadata=limit("--max-age", 0, 10 * 365 * 86_400, unit=" seconds"))


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything one ``presend clean`` run needs to know."""

    input: Path
    out_dir: Path | None = None
    email_column: str | None = None
    encoding: str | None = None  # the input's text encoding; None = detect (or guess) it
    dns: DnsOptions = field(default_factory=DnsOptions)
    probe: ProbeOptions = field(default_factory=ProbeOptions)
    hygiene: HygieneOptions = field(default_factory=HygieneOptions)
    cache: CacheOptions = field(default_factory=CacheOptions)
    keep_risky: bool = False  # put risky rows in the clean list too
    chunk_size: int = field(default=50_000, metadata=limit("--chunk-size", 1, 10_000_000))
    resume: bool = False
    report_row_cap: int = field(default=5_000, metadata=limit("--report-rows", 0, 1_000_000))
    fast_syntax: bool = True  # False: check_address on every row (the reference path)
    #: how many workers the engine uses (0 = one per CPU; the local engine uses this process only)
    workers: int = field(default=0, metadata=limit("--workers", 0, MAX_WORKERS))
    #: which engine judges the list: "auto", "local", "processes" or "dask" (see pipeline.engine)
    engine: str = "auto"
    #: the dask scheduler to connect to ("tcp://HOST:8786"); None = start a local cluster
    scheduler: str | None = None
    #: where the dask workers read the input (any fsspec URL); None = the input's absolute path
    input_url: str | None = None

    @property
    def output_dir(self) -> Path:
        """Where outputs go: ``out_dir`` or the input's folder."""
        return self.out_dir if self.out_dir is not None else self.input.parent

    @property
    def stem(self) -> str:
        """The input file name without its extension, used to name outputs."""
        return self.input.stem
