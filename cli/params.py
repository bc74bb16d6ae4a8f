"""The ``clean`` command's parameters, generated from the option records.

Each :class:`~pipeline.options.OptionSpec` of :class:`~pipeline.options.RunOptions` and of
:class:`~cli.settings.CliSettings` becomes one typer parameter (flag, help text, default,
type), so an option is declared once. ``--config`` is read first (an eager option): the file's
values become the command's ``default_map``, so a value on the command line wins over the file
and click reports where each value came from.

Every option can also be set by an environment variable named after its flag:
``PRESEND_`` and the option's name in capitals (``--dns-timeout`` is ``PRESEND_DNS_TIMEOUT``,
``--no-dns`` is ``PRESEND_NO_DNS=1``). click reads a flag first, then the environment, then the
``default_map`` (the config file), then the default: that order is the precedence.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from pipeline.config import Config, find_config, load_config
from pipeline.errors import UsageError
from pipeline.options import PANELS, OptionSpec, RunOptions, option_specs

from .settings import CliSettings

#: Every option of ``presend clean``: the run's, then the command line's own.
SPECS: tuple[OptionSpec, ...] = option_specs(RunOptions) + option_specs(CliSettings)
#: The options by name (the parameter name and flat config key) and by flag.
BY_NAME = {spec.name: spec for spec in SPECS}
BY_FLAG = {spec.meta.flag: spec for spec in SPECS}

#: The environment variables' common prefix (``PRESEND_DNS_TIMEOUT`` sets ``--dns-timeout``).
ENV_PREFIX = "PRESEND_"

#: ``ctx.meta`` keys: the loaded config file, or the error that stopped it loading.
CONFIG = "presend.config"
CONFIG_ERROR = "presend.config_error"

F = TypeVar("F", bound=Callable[..., Any])


def with_option_parameters(command: F) -> F:
    """Give ``command(ctx, **values)`` the signature typer reads: ``ctx`` and one parameter per option."""
    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    parameters = [context, *(_parameter(spec) for spec in by_panel(SPECS))]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return command


def by_panel(specs: tuple[OptionSpec, ...]) -> list[OptionSpec]:
    """The options in the order of their help panels (:data:`~pipeline.options.PANELS`; others last)."""
    order = {panel: index for index, panel in enumerate(PANELS)}
    return sorted(specs, key=lambda spec: (not spec.meta.positional, order.get(spec.panel, len(PANELS))))


#: The run options ``presend check`` takes: every one but those about a file (input, out, resume ...).
CHECK_SPECS: tuple[OptionSpec, ...] = tuple(
    spec for spec in SPECS
    if spec.name not in {"input", "out", "resume", "chunk_size", "report_rows", "email_column", "encoding",
                         "keep_risky", "fail_over", "fail_over_unknown", "input_url", "quiet", "stdout", "format"}
)


def with_check_parameters(command: F) -> F:
    """Give ``command(ctx, addresses, output_format, **values)`` the signature typer reads: the
    addresses, ``--format``, and the run options that concern one address (see CHECK_SPECS)."""
    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    addresses = inspect.Parameter(
        "addresses", inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=Annotated[list[str], typer.Argument(help="The addresses to check.", metavar="ADDRESS...")],
    )
    output = inspect.Parameter(
        "output_format", inspect.Parameter.KEYWORD_ONLY, default="text",
        annotation=Annotated[str, typer.Option(
            "--format", help="text (a line per address) or json (an object per line).", metavar="text|json"
        )],
    )
    parameters = [context, addresses, output, *(_parameter(spec) for spec in by_panel(CHECK_SPECS))]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return command


#: The options ``presend sender`` takes: the sender's, the resolver's, the envelope and the config.
SENDER_SPECS: tuple[OptionSpec, ...] = tuple(
    spec for spec in SPECS
    if spec.section == "sender" or spec.name in {"nameserver", "dns_timeout", "mail_from", "config", "log_format"}
)


def with_sender_parameters(command: F) -> F:
    """Give ``command(ctx, output_format, **values)`` the signature typer reads: ``--format`` and
    the options of the sender checks (see SENDER_SPECS)."""
    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    output = inspect.Parameter(
        "output_format", inspect.Parameter.KEYWORD_ONLY, default="text",
        annotation=Annotated[str, typer.Option(
            "--format", help="text (the report) or json (one object).", metavar="<text|json>"
        )],
    )
    parameters = [context, output, *(_parameter(spec) for spec in SENDER_SPECS)]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return command


def _parameter(spec: OptionSpec) -> inspect.Parameter:
    """The typer parameter of one option."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD if spec.meta.positional else inspect.Parameter.KEYWORD_ONLY
    default = inspect.Parameter.empty if spec.meta.positional else spec.flag_default
    return inspect.Parameter(spec.name, kind, annotation=Annotated[_value_type(spec), _info(spec)], default=default)


def _value_type(spec: OptionSpec) -> Any:
    """The type typer converts the flag's text to."""
    if spec.many:
        return list[spec.kind] | None  # type: ignore[name-defined]
    if spec.kind is bool:
        return bool
    # A duration ("7d", "12h", "3600") is read by the record (pipeline.options.parse_duration);
    # choices are checked with the ranges (pipeline.options.check_options), from any source.
    base: Any = str if spec.meta.duration or spec.meta.schedule else spec.kind
    return base | None if spec.flag_default is None and not spec.meta.positional else base


def _info(spec: OptionSpec) -> Any:
    """typer's declaration of one option: flags, help, metavar; ``--config`` is read first."""
    meta = spec.meta
    if meta.positional:
        return typer.Argument(help=meta.help, metavar=meta.metavar or meta.name.upper())
    flags = [meta.flag, *([meta.short] if meta.short else [])]
    eager: dict[str, Any] = {"is_eager": True, "callback": _read_config} if spec.name == "config" else {}
    return typer.Option(
        *flags, help=meta.help, metavar=metavar(spec), hidden=meta.hidden, envvar=env_name(spec),
        rich_help_panel=spec.panel, **eager,
    )


#: What ``--help`` calls an option's value when the option names none, by the value's type.
_METAVARS: dict[type, str] = {int: "N", float: "NUMBER", str: "TEXT", Path: "PATH"}


def metavar(spec: OptionSpec) -> str:
    """The option's value as ``--help`` shows it: its own name for it, its choices, or a word for its
    type (``SECONDS`` for a time); nothing for a switch."""
    meta = spec.meta
    if meta.metavar:
        return meta.metavar
    if meta.choices:
        return "|".join(meta.choices)
    if spec.kind is bool:
        return ""
    if meta.unit.strip() == "seconds":
        return "SECONDS"
    return _METAVARS.get(spec.kind, "VALUE")


def env_name(spec: OptionSpec) -> str:
    """The environment variable that sets the option: ``PRESEND_`` and its flag's name in capitals."""
    return ENV_PREFIX + spec.meta.flag.lstrip("-").replace("-", "_").upper()


def _read_config(ctx: typer.Context, value: Path | None) -> Path | None:
    """Load the config file and make its values the command's defaults (an error waits for the command)."""
    try:
        loaded = load_config(find_config(value), SPECS)
    except UsageError as exc:
        ctx.meta[CONFIG_ERROR] = UsageError(f"{exc}{set_by(ctx, '--config')}")
        return value
    ctx.meta[CONFIG] = loaded
    ctx.default_map = {**(ctx.default_map or {}), **{name: _as_default(name, v) for name, v in loaded.values.items()}}
    return value


def _as_default(name: str, value: Any) -> Any:
    """A config value as the flag's parameter takes it (a duration's seconds as text)."""
    return repr(value) if BY_NAME[name].meta.duration else value


def loaded_config(ctx: typer.Context) -> Config:
    """The config file this command read, or raise the error that stopped it."""
    error = ctx.meta.get(CONFIG_ERROR)
    if isinstance(error, UsageError):
        raise error
    found = ctx.meta.get(CONFIG)
    return found if isinstance(found, Config) else Config(None, {})


#: click's parameter sources (compared by name: typer ships its own copy of click's enum) as presend names them.
_SOURCES = {"COMMANDLINE": "command_line", "ENVIRONMENT": "environment", "DEFAULT_MAP": "config_file"}


def source_of(ctx: typer.Context, name: str) -> str | None:
    """Where the option ``name`` got its value: command_line, environment, config_file, or None (its default)."""
    source = ctx.get_parameter_source(name)
    return _SOURCES.get(source.name) if source is not None else None


def set_by(ctx: typer.Context, flag: str) -> str:
    """Where the option ``flag`` was set when that is not the command line, for an error message.

    `` (set in FILE)`` for the config file, `` (set by PRESEND_X; fix or unset it)`` for the
    environment, else the empty text.
    """
    spec = BY_FLAG.get(flag)
    source = source_of(ctx, spec.name) if spec is not None else None
    if spec is not None and source == "environment":
        return f" (set by {env_name(spec)}; fix or unset it)"
    config = ctx.meta.get(CONFIG)
    if source == "config_file" and isinstance(config, Config) and config.path is not None:
        return f" (set in {config.path})"
    return ""


def settings_sources(ctx: typer.Context) -> dict[str, Any]:
    """Which sources set the command's options: the config file, the environment, the command line.

    ``config_file`` is the file read (None without one), ``config_options`` the options whose
    value came from it, ``environment`` the variables used, ``command_line`` the flags given.
    """
    used: dict[str | None, list[OptionSpec]] = {}
    for spec in SPECS:
        if not spec.meta.positional:
            used.setdefault(source_of(ctx, spec.name), []).append(spec)
    config = ctx.meta.get(CONFIG)
    path = config.path if isinstance(config, Config) else None
    return {
        "config_file": None if path is None else str(path),
        "config_options": [spec.name for spec in used.get("config_file", [])],
        "environment": [env_name(spec) for spec in used.get("environment", [])],
        "command_line": [spec.meta.flag for spec in used.get("command_line", [])],
    }


def early_value(argv: list[str], name: str) -> Any:
    """The value of option ``name`` as far as it can be known when click could not parse ``argv``.

    The same precedence as a parsed command line: the last ``--flag VALUE`` or ``--flag=VALUE``
    before ``--``, else the environment variable, else the config file (``--config``,
    ``PRESEND_CONFIG`` or ``./presend.toml``; one that cannot be read tells nothing), else None.
    """
    spec = BY_NAME[name]
    given = _last_flag_value(argv, spec.meta.flag)
    if given is not None:
        return given
    if env_name(spec) in os.environ:
        return os.environ[env_name(spec)]
    config = _last_flag_value(argv, "--config") or os.environ.get(env_name(BY_NAME["config"]))
    try:
        return load_config(find_config(Path(config) if config else None), SPECS).values.get(name)
    except UsageError:
        return None


def _last_flag_value(argv: list[str], flag: str) -> str | None:
    """The value the last ``flag`` of ``argv`` was given (options end at ``--``)."""
    args = argv[: argv.index("--")] if "--" in argv else argv
    found = None
    for arg, following in zip(args, [*args[1:], None], strict=True):
        if arg == flag and following is not None:
            found = following
        elif arg.startswith(flag + "="):
            found = arg[len(flag) + 1:]
    return found
