"""Run options: one frozen record per level, gathered in :class:`RunOptions`; their one home.

Every field a user can set carries an :func:`option` in its metadata: the command-line flag,
the help text, the allowed range or choices, and how the flag's value maps onto the field
(a negated switch such as ``--no-dns``, a duration such as ``7d``). The field's default is
the option's default. The CLI builds its parameters from these records, and the config
file's keys are the flag names (``dns_timeout``) or, inside a section, the field names
(``[dns] timeout``), so a new option is one new field. :func:`check_options` holds every
record to its ranges and choices, whatever the value came from (a flag, the config file, a
Python caller), naming the flag in its one-line error.
"""

from __future__ import annotations

import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pipeline.errors import UsageError

#: Worker processes at most, whatever --workers asks: more than this only adds load.
MAX_WORKERS = max(4, 4 * (os.cpu_count() or 1))

#: The engines that can judge a list (see pipeline.engine); "auto" lets the run choose.
ENGINES = ("auto", "local", "processes", "dask")

#: The groups ``--help`` shows the options in, in this order (a Flag's ``panel``, else its record's
#: ``PANEL``); an option in neither falls into :data:`DEFAULT_PANEL`, shown last.
PANELS = ("Input", "DNS", "Probe", "Hygiene", "Sender", "Outputs", "Cache & resume", "Engine", "Automation")
DEFAULT_PANEL = "Other options"


@dataclass(frozen=True, slots=True)
class Flag:
    """How one field is set from outside: its flag, help text and allowed values (field metadata).

    ``negate``: the flag is a switch that turns the field off (``--no-dns`` for ``dns.enabled``).
    ``duration``: the value is given as a duration (``7d``, ``12h``, ``3600``) and held in seconds.
    ``schedule``: the value is one duration or several, comma-separated (``60,300,900``), held as
    a tuple of seconds (the field's type is ``tuple[float, ...]``, set by one flag, not repeated).
    ``config``: whether the config file may set it. ``positional``: a command-line argument.
    """

    flag: str
    help: str
    low: float | None = None
    high: float | None = None
    unit: str = ""
    choices: tuple[str, ...] = ()
    negate: bool = False
    duration: bool = False
    schedule: bool = False
    short: str | None = None
    metavar: str | None = None
    hidden: bool = False
    config: bool = True
    positional: bool = False
    #: the option's name when the flag's own is no Python name (``--from`` → ``from_addr``)
    key: str = ""
    #: the group ``--help`` lists it in (one of :data:`PANELS`; empty: its record's)
    panel: str = ""

    @property
    def name(self) -> str:
        """The option's name: ``key``, else the flag without dashes, ``_`` for ``-`` (also its config key)."""
        return self.key or self.flag.lstrip("-").replace("-", "_")


def option(flag: str, help: str, **details: Any) -> dict[str, Flag]:
    """Field metadata: the :class:`Flag` that sets the field (keyword arguments as in :class:`Flag`)."""
    return {"option": Flag(flag, help, **details)}


def argument(name: str, help: str, **details: Any) -> dict[str, Flag]:
    """Field metadata: the field is the command's positional argument ``name``."""
    return option(name, help, positional=True, config=False, **details)


def flag_of(spec: Any) -> Flag | None:
    """The :class:`Flag` of a dataclass field, or None when no option sets it."""
    found = spec.metadata.get("option")
    return found if isinstance(found, Flag) else None


def check_options(options: object) -> None:
    """Raise :class:`OutOfRange` for the first field of ``options`` outside its range or choices.

    Walks the nested records; a value that is not finite (``inf``, ``nan``) is out of range.
    A :class:`RunOptions` is also held to the options that only make sense together.
    """
    assert is_dataclass(options)
    for spec in fields(options):
        value = getattr(options, spec.name)
        meta = flag_of(spec)
        if is_dataclass(value):
            check_options(value)
        elif meta is not None and value is not None:
            check_value(meta, value)
    if isinstance(options, RunOptions):
        _check_engine(options)


class OutOfRange(UsageError):
    """An option value outside what the option allows; ``flag`` names the option."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(message)
        self.flag = flag


def check_value(meta: Flag, value: Any) -> None:
    """Raise :class:`OutOfRange` when ``value`` is not one of the choices or lies outside the range."""
    if meta.schedule:
        if not value:
            raise OutOfRange(meta.flag, f"{meta.flag}: expected at least one wait (seconds)")
        for wait in value:
            check_value(replace(meta, schedule=False), wait)
        return
    if meta.choices:
        if value not in meta.choices:
            raise OutOfRange(meta.flag, f"{meta.flag}: expected {one_of(meta.choices)}, not {value!r}")
        return
    if meta.low is None or meta.high is None:
        return
    low, high = meta.low, meta.high
    if isinstance(value, bool) or not math.isfinite(value) or not low <= value <= high:
        expected = f"{_number(low)} to {_number(high)}{meta.unit}"
        raise OutOfRange(meta.flag, f"{meta.flag}: expected {expected}, not {value!r}")


def one_of(choices: tuple[str, ...], quote: str = "") -> str:
    """``a, b or c`` (each choice between ``quote`` marks)."""
    named = [f"{quote}{choice}{quote}" for choice in choices]
    return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"


def _number(value: float) -> str:
    return f"{value:,.0f}".replace(",", "_") if float(value).is_integer() else f"{value:g}"


def _check_engine(options: RunOptions) -> None:
    """``--scheduler`` and ``--input-url`` are for the dask engine only."""
    if options.engine == "dask":
        return
    for name, flag in (("scheduler", "--scheduler"), ("input_url", "--input-url")):
        if getattr(options, name) is not None:
            raise OutOfRange(flag, f"{flag} is for the dask engine only; add --engine dask or drop {flag}")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | float, what: str = "--max-age") -> float:
    """Seconds from ``3600``, ``"90s"``, ``"30m"``, ``"12h"``, ``"7d"`` or ``"2w"``."""
    if isinstance(text, bool):
        raise UsageError(f"{what}: expected a duration such as 7d, 12h or 3600, not {text!r}")
    seconds = float(text) if isinstance(text, int | float) else _duration_text(text, what)
    if seconds < 0:
        raise UsageError(f"{what}: a duration cannot be negative")
    return seconds


def parse_schedule(value: Any, what: str) -> tuple[float, ...]:
    """Seconds from one duration or several: ``300``, ``"60,300,900"``, ``"1m,5m,15m"``, ``[60, 300]``."""
    if isinstance(value, tuple | list):
        items: list[Any] = list(value)
    elif isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    else:
        items = [value]
    if not items or any(item == "" for item in items):
        raise UsageError(f"{what}: expected seconds or a schedule of waits such as 60,300,900, not {value!r}")
    return tuple(parse_duration(item, what) for item in items)


def _duration_text(text: str, what: str) -> float:
    match = _DURATION.match(text)
    if match:
        return float(match.group(1)) * _UNITS[match.group(2).lower()]
    try:
        return float(text)  # plain seconds in any float spelling ("1e6", "inf": the range check decides)
    except ValueError:
        raise UsageError(f"{what}: expected a duration such as 7d, 12h, 30m or 3600 (seconds), not {text!r}") from None


# --- the options as the front ends see them -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One option of a record: its :class:`Flag`, where its field lives and the shape of its value."""

    meta: Flag
    section: str  # the nested record's field name ("dns"), or "" for a field of the record itself
    field: str  # the field's name in its record
    kind: type  # bool, int, float, str or Path (of each item when ``many``)
    many: bool  # a tuple of values: a repeatable flag, a list in the config file
    optional: bool  # None is one of the field's values
    default: Any  # the field's default
    group: str = ""  # the ``PANEL`` of the record the field lives in

    @property
    def panel(self) -> str:
        """The group ``--help`` lists the option in: the Flag's, its record's, else :data:`DEFAULT_PANEL`."""
        return self.meta.panel or self.group or DEFAULT_PANEL

    @property
    def name(self) -> str:
        """The option's name (``dns_timeout``): the CLI parameter and the flat config key."""
        return self.meta.name

    @property
    def flag_default(self) -> Any:
        """The default as the flag holds it: a negated switch is off; nothing to list or say is None."""
        return self.from_field(self.default)

    def to_field(self, value: Any) -> Any:
        """The field's value for a value of the flag (None keeps the field's default)."""
        if self.meta.negate:
            return not value
        if value is None:
            return self.default
        if self.meta.schedule:
            return parse_schedule(value, self.meta.flag)
        if self.many:
            return tuple(value)
        if self.meta.duration:
            return parse_duration(value, self.meta.flag)
        return value

    def from_field(self, value: Any) -> Any:
        """The flag's value for a value of the field (the inverse of :meth:`to_field`)."""
        if self.meta.negate:
            return not value
        if value is None or value == "" or value == ():
            return None
        if self.meta.schedule and isinstance(value, tuple | list):
            return ",".join(f"{float(wait):g}" for wait in value)
        return list(value) if self.many else value


R = TypeVar("R")


def option_specs(record: type) -> tuple[OptionSpec, ...]:
    """Every option of ``record`` and of its nested records, in field order."""
    found: list[OptionSpec] = []
    hints = typing.get_type_hints(record)
    for spec in fields(record):
        hint = hints[spec.name]
        if is_dataclass(hint):
            found.extend(
                OptionSpec(inner.meta, spec.name, inner.field, inner.kind, inner.many, inner.optional, inner.default,
                           inner.group)
                for inner in option_specs(hint)  # type: ignore[arg-type]
            )
            continue
        meta = flag_of(spec)
        if meta is not None:
            kind, many, optional = _shape(hint)
            many = many and not meta.schedule  # a schedule is one value: "60,300,900"
            default = None if spec.default is MISSING else spec.default
            found.append(OptionSpec(meta, "", spec.name, kind, many, optional, default, getattr(record, "PANEL", "")))
    return tuple(found)


def _shape(hint: Any) -> tuple[type, bool, bool]:
    """(item type, many, optional) of a field's type: ``Path | None``, ``tuple[str, ...]``, ``int`` ..."""
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        rest = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = len(rest) < len(typing.get_args(hint))
        (hint,) = rest
    many = typing.get_origin(hint) is tuple
    if many:
        hint = typing.get_args(hint)[0]
    return hint, many, optional


def build_options(record: type[R], values: Mapping[str, Any]) -> R:
    """``record`` and its nested records from flag values keyed by option name (absent: the default)."""
    hints = typing.get_type_hints(record)
    by_section: dict[str, dict[str, Any]] = {}
    for spec in option_specs(record):
        if spec.name in values:
            by_section.setdefault(spec.section, {})[spec.field] = spec.to_field(values[spec.name])
    top = by_section.pop("", {})
    for section, given in by_section.items():
        top[section] = hints[section](**given)
    return record(**top)


# --- the records ------------------------------------------------------------------------------------

_SECONDS = " seconds"


@dataclass(frozen=True, slots=True)
class DnsOptions:
    """How the DNS level resolves domains."""

    PANEL: ClassVar[str] = "DNS"

    enabled: bool = field(default=True, metadata=option("--no-dns", "Stop after syntax (offline).", negate=True))
    #: "IP" or "IP:PORT"; empty = system resolver
    nameservers: tuple[str, ...] = field(
        default=(), metadata=option("--nameserver", "Resolver IP[:PORT]; repeatable.", metavar="IP[:PORT]")
    )
    concurrency: int = field(
        default=64, metadata=option("--dns-concurrency", "DNS queries in flight at once.", low=1, high=1024)
    )
    timeout: float = field(
        default=5.0, metadata=option("--dns-timeout", "Seconds per DNS query.", low=0.1, high=300, unit=_SECONDS)
    )
    allow_private_mx: bool = field(
        default=False, metadata=option("--allow-private-mx", "Treat loopback/private MX addresses as ordinary.")
    )


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """How the mailbox level talks to mail hosts (only when ``enabled``)."""

    PANEL: ClassVar[str] = "Probe"

    enabled: bool = field(default=False, metadata=option("--probe", "Ask mail hosts with RCPT TO (never DATA)."))
    mail_from: str = field(default="", metadata=option("--mail-from", "MAIL FROM address (a domain you control)."))
    helo: str = field(default="", metadata=option("--helo", "EHLO/HELO name."))
    port: int = field(default=25, metadata=option("--smtp-port", "SMTP port (labs).", low=1, high=65535))
    #: the waits before retry 1, 2, 3 ... of a temporary answer (the last one repeats); a
    #: number given here (a Python caller, an old config) is the one wait before every retry
    retry_after: tuple[float, ...] = field(
        default=(300.0,),
        metadata=option(
            "--retry-after", "Seconds before retrying 450/451: one wait, or the waits before retry 1, 2, 3 "
            "(60,300,900).", low=0, high=86_400, unit=_SECONDS, schedule=True, metavar="SECONDS[,SECONDS...]",
        ),
    )
    #: retries within one run; None = one per wait of --retry-after (one for a single number)
    max_retries: int | None = field(
        default=None,
        metadata=option(
            "--max-retries", "Retries of temporary answers in one run (default: one per --retry-after wait).",
            low=0, high=100,
        ),
    )
    concurrency: int = field(
        default=20, metadata=option("--probe-concurrency", "SMTP sessions at once overall.", low=1, high=1000)
    )
    per_host: int = field(
        default=2, metadata=option("--per-host", "SMTP sessions at once per mail host.", low=1, high=100)
    )
    timeout: float = field(
        default=20.0,
        metadata=option("--smtp-timeout", "Seconds for connect and each reply.", low=0.1, high=600, unit=_SECONDS),
    )
    batch_size: int = field(
        default=25, metadata=option("--batch-size", "Addresses asked per SMTP session.", low=1, high=1000)
    )
    #: the made-up RCPT per domain and session that tells catch-all domains apart
    catch_all_check: bool = field(
        default=True,
        metadata=option("--no-catch-all-check", "Do not ask a made-up address to detect catch-all domains.",
                        negate=True),
    )
    #: "socks5://[user:password@]host:port": every SMTP session goes through this proxy; empty = direct
    proxy: str = field(
        default="",
        metadata=option(
            "--proxy", "Carry every SMTP session through this SOCKS5 proxy (DNS stays with the resolver).",
            metavar="socks5://[USER:PASS@]HOST:PORT",
        ),
    )

    def __post_init__(self) -> None:
        # one wait (a number, as before schedules) or a schedule's text are held as a tuple
        if not isinstance(self.retry_after, tuple):
            object.__setattr__(self, "retry_after", parse_schedule(self.retry_after, "--retry-after"))

    @property
    def retries(self) -> int:
        """How many times one run asks a temporary answer again."""
        return len(self.retry_after) if self.max_retries is None else self.max_retries

    def wait_before(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based, over every run) of an address."""
        schedule = self.retry_after or (0.0,)
        return schedule[min(max(retry, 1), len(schedule)) - 1]
    # issue 17: a host that cuts sessions short is obeyed, not fought (see pipeline/probe/limits.py)
    session_cap: float = field(
        default=300.0,
        metadata=option(
            "--session-cap", "Wall-clock seconds one SMTP session may take (0: no cap).",
            low=0, high=86_400, unit=_SECONDS,
        ),
    )
    backoff: float = field(
        default=60.0,
        metadata=option(
            "--backoff", "Seconds to leave a host alone after it cut a session short (doubles).",
            low=0, high=86_400, unit=_SECONDS,
        ),
    )
    backoff_tries: int = field(
        default=3,
        metadata=option("--backoff-tries", "Fresh passes after hosts cut sessions short.", low=0, high=20),
    )


@dataclass(frozen=True, slots=True)
class HygieneOptions:
    """List-hygiene policy."""

    PANEL: ClassVar[str] = "Hygiene"

    role_is_risky: bool = field(default=False, metadata=option("--role-risky", "Mark role accounts (info@ ...) risky."))
    canonical_duplicates: bool = field(
        default=False, metadata=option("--canonical-duplicates", "Provider-aware duplicates (Gmail dots, +tags).")
    )
    disposable_allow: tuple[str, ...] = field(
        default=(),
        metadata=option("--disposable-allow", "A domain never counted disposable; repeatable.", metavar="DOMAIN"),
    )
    disposable_block: tuple[str, ...] = field(
        default=(), metadata=option("--disposable-block", "A domain counted disposable; repeatable.", metavar="DOMAIN")
    )
    #: the top-level domains that exist; None = the list shipped in pipeline/data/tlds.txt
    tld_list: Path | None = field(
        default=None,
        metadata=option(
            "--tld-list", "The top-level domains that exist, one a line (default: the shipped list), "
            "for runs without DNS.", metavar="FILE",
        ),
    )


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """The persistent verdict cache."""

    PANEL: ClassVar[str] = "Cache & resume"

    enabled: bool = field(default=True, metadata=option("--no-cache", "Use no persistent cache.", negate=True))
    #: None = the user's cache directory
    path: Path | None = field(default=None, metadata=option("--cache", "Verdict cache (SQLite) path."))
    #: seconds; None = each record's own lifetime
    max_age: float | None = field(
        default=None,
        metadata=option(
            "--max-age", "Refresh cached verdicts older than this (7d, 12h, 30m, 3600).",
            low=0, high=10 * 365 * 86_400, unit=_SECONDS, duration=True, metavar="DURATION",
        ),
    )


@dataclass(frozen=True, slots=True)
class SenderOptions:
    """Our own side of the send: the From address, sending IPs, relay and message (issue 14).

    The sender checks run when ``from_addr`` is set. The relay's password is never an option:
    it is read from the environment variable ``password_env`` names (or asked at a prompt).
    """

    PANEL: ClassVar[str] = "Sender"

    from_addr: str = field(
        default="",
        metadata=option(
            "--from", "The campaign's From address: turns the sender checks on.", metavar="ADDR", key="from_addr"
        ),
    )
    ips: tuple[str, ...] = field(
        default=(), metadata=option("--ip", "An IP address the campaign is sent from; repeatable.", metavar="IP")
    )
    relay: str | None = field(
        default=None,
        metadata=option("--relay", "Your submission server, HOST[:PORT] (never sent DATA).", metavar="HOST[:PORT]"),
    )
    user: str = field(default="", metadata=option("--user", "The relay's AUTH user name."))
    password_env: str = field(
        default="",
        metadata=option("--password-env", "The environment variable holding the relay's password.", metavar="VAR"),
    )
    tls: bool = field(
        default=False, metadata=option("--tls", "Connect to the relay over TLS at once (port 465 style).")
    )
    starttls: bool = field(
        default=False, metadata=option("--starttls", "Require STARTTLS on the relay (port 587 style).")
    )
    message: Path | None = field(
        default=None, metadata=option("--message", "The campaign's message (.eml) to check.", metavar="FILE.eml")
    )
    dkim_selectors: tuple[str, ...] = field(
        default=(), metadata=option("--dkim-selector", "A DKIM selector of the From domain; repeatable.", metavar="S")
    )
    bulk: bool = field(
        default=False, metadata=option("--bulk", "Hold the send to the bulk-sender rules (one-click unsubscribe).")
    )
    #: DNS block-list zones to look the sending IPs up in; empty = the documented default set
    dnsbl_zones: tuple[str, ...] = field(
        default=(), metadata=option("--dnsbl", "A DNS block-list zone to check the IPs in; repeatable.", metavar="ZONE")
    )

    @property
    def enabled(self) -> bool:
        """Whether the sender checks run (a From address was given)."""
        return bool(self.from_addr)


@dataclass(frozen=True, slots=True)
class BounceOptions:
    """How the real bounces kept by ``presend calibrate --suppress`` weigh on a run."""

    PANEL: ClassVar[str] = "Hygiene"

    soft_limit: int = field(
        default=3,
        metadata=option(
            "--soft-bounce-limit", "Soft bounces kept by calibrate --suppress that make an address risky.",
            low=1, high=1000,
        ),
    )


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything one ``presend clean`` run needs to know."""

    input: Path = field(
        metadata=argument("input", "The list to clean (CSV, TSV, XLSX, XLS or ODS).", panel="Input")
    )
    out_dir: Path | None = field(
        default=None, metadata=option("--out", "Output folder (default: beside the input).", panel="Outputs")
    )
    email_column: str | None = field(
        default=None,
        metadata=option("--email-column", "Column holding the addresses (a name or a 1-based number).", panel="Input"),
    )
    #: the input's text encoding; None = detect (or guess) it
    encoding: str | None = field(
        default=None,
        metadata=option(
            "--encoding",
            "The input's text encoding (cp1251, iso-8859-2, shift_jis ...) when presend's guess is wrong.",
            panel="Input",
        ),
    )
    dns: DnsOptions = field(default_factory=DnsOptions)
    probe: ProbeOptions = field(default_factory=ProbeOptions)
    hygiene: HygieneOptions = field(default_factory=HygieneOptions)
    cache: CacheOptions = field(default_factory=CacheOptions)
    sender: SenderOptions = field(default_factory=SenderOptions)
    bounces: BounceOptions = field(default_factory=BounceOptions)
    keep_risky: bool = field(
        default=False, metadata=option("--keep-risky", "Put risky rows in the clean list too.", panel="Outputs")
    )
    chunk_size: int = field(
        default=50_000, metadata=option(
            "--chunk-size", "Rows judged and committed at a time.", low=1, high=10_000_000, panel="Cache & resume"
        )
    )
    resume: bool = field(
        default=False,
        metadata=option(
            "--resume", "Continue an interrupted run from its last committed chunk.", panel="Cache & resume"
        ),
    )
    report_row_cap: int = field(
        default=5_000,
        metadata=option("--report-rows", "Problem rows shown in the report.", low=0, high=1_000_000, panel="Outputs"),
    )
    #: False: check_address on every row (the reference path)
    fast_syntax: bool = field(
        default=True,
        metadata=option(
            "--plain-syntax", "Reference path: email-validator on every row.", negate=True, hidden=True, config=False
        ),
    )
    #: how many workers the engine uses (0 = one per CPU; the local engine uses this process only)
    workers: int = field(
        default=0,
        metadata=option(
            "--workers", "How many workers the engine uses (0 = one per CPU).", low=0, high=MAX_WORKERS, panel="Engine"
        ),
    )
    #: which engine judges the list: "auto", "local", "processes" or "dask" (see pipeline.engine)
    engine: str = field(
        default="auto",
        metadata=option(
            "--engine", "Where the run executes: auto, local (this process), processes (worker processes) "
            "or dask (a dask.distributed cluster).", choices=ENGINES, panel="Engine",
        ),
    )
    #: the dask scheduler to connect to ("tcp://HOST:8786"); None = start a local cluster
    scheduler: str | None = field(
        default=None,
        metadata=option(
            "--scheduler", "The dask scheduler to connect to (tcp://HOST:8786); without it --engine dask "
            "starts a local cluster of --workers workers.", metavar="ADDRESS", panel="Engine",
        ),
    )
    #: where the dask workers read the input (any fsspec URL); None = the input's absolute path
    input_url: str | None = field(
        default=None,
        metadata=option(
            "--input-url", "Where the dask workers read the input (an fsspec URL such as s3://bucket/list.csv; "
            "default: the input's absolute path).", metavar="URL", panel="Engine",
        ),
    )

    @property
    def output_dir(self) -> Path:
        """Where outputs go: ``out_dir`` or the input's folder."""
        return self.out_dir if self.out_dir is not None else self.input.parent

    @property
    def stem(self) -> str:
        """The input file name without its extension, used to name outputs."""
        return self.input.stem
