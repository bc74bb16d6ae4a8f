"""The ``clean`` command's parameters, generated from the option records.

Each :class:`~pipeline.options.OptionSpec` of :class:`~pipeline.options.RunOptions` and of
:class:`~cli.settings.CliSettings` becomes one typer parameter (flag, help text, default,
type), so an option is declared once. ``--config`` is read first (an eager option): the file's
values become the command's ``default_map``, so a value on the command line wins over the file
and click reports where each value came from.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from pipeline.config import Config, find_config, load_config
from pipeline.errors import UsageError
from pipeline.options import OptionSpec, RunOptions, option_specs

from .settings import CliSettings

#: Every option of ``presend clean``: the run's, then the command line's own.
SPECS: tuple[OptionSpec, ...] = option_specs(RunOptions) + option_specs(CliSettings)
#: The options by name (the parameter name and flat config key) and by flag.
BY_NAME = {spec.name: spec for spec in SPECS}
BY_FLAG = {spec.meta.flag: spec for spec in SPECS}

#: ``ctx.meta`` keys: the loaded config file, or the error that stopped it loading.
CONFIG = "presend.config"
CONFIG_ERROR = "presend.config_error"

F = TypeVar("F", bound=Callable[..., Any])


def with_option_parameters(command: F) -> F:
    """Give ``command(ctx, **values)`` the signature typer reads: ``ctx`` and one parameter per option."""
    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    parameters = [context, *(_parameter(spec) for spec in SPECS)]
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
    base: Any = str if spec.meta.duration else spec.kind
    return base | None if spec.flag_default is None and not spec.meta.positional else base


def _info(spec: OptionSpec) -> Any:
    """typer's declaration of one option: flags, help, metavar; ``--config`` is read first."""
    meta = spec.meta
    if meta.positional:
        return typer.Argument(help=meta.help, metavar=meta.metavar)
    flags = [meta.flag, *([meta.short] if meta.short else [])]
    eager: dict[str, Any] = {"is_eager": True, "callback": _read_config} if spec.name == "config" else {}
    metavar = meta.metavar or (f"<{'|'.join(meta.choices)}>" if meta.choices else None)
    return typer.Option(*flags, help=meta.help, metavar=metavar, hidden=meta.hidden, **eager)


def _read_config(ctx: typer.Context, value: Path | None) -> Path | None:
    """Load the config file and make its values the command's defaults (an error waits for the command)."""
    try:
        loaded = load_config(find_config(value), SPECS)
    except UsageError as exc:
        ctx.meta[CONFIG_ERROR] = exc
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


def from_config_file(ctx: typer.Context, flag: str) -> bool:
    """Whether the value of the option ``flag`` came from the config file."""
    spec = BY_FLAG.get(flag)
    source = ctx.get_parameter_source(spec.name) if spec is not None else None
    # Compared by name: typer ships its own copy of click's ParameterSource enum.
    return source is not None and source.name == "DEFAULT_MAP"
