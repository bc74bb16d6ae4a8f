"""What ``--help`` shows beyond the options themselves: examples, and no type noise.

The options' panels, value names and defaults come from their records (cli.params); here
are the words around them, and command classes whose own ``--help`` option shows no
``<bool>`` beside it.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup

#: ``presend clean --help``'s closing paragraphs (each example is a paragraph of its own).
CLEAN_EPILOG = "\n\n".join(
    [
        "Examples:",
        "presend clean leads.csv  (syntax and DNS; the outputs go beside the list)",
        "presend clean leads.csv --no-dns --out checked/  (offline: syntax only)",
        "presend clean leads.xlsx --probe --mail-from me@mycompany.example",
        "presend clean leads.csv --resume  (continue a run that was stopped)",
        "presend clean leads.csv -q --fail-over 5  (cron: exit 3 above 5 % bounces)",
        "Every option can also be set in presend.toml (--config) or by an environment variable: "
        "PRESEND_ and the option's name in capitals (--dns-timeout is PRESEND_DNS_TIMEOUT).",
    ]
)


def _plain_help_option(option: Any) -> Any:
    """The ``--help`` option without a value name (it is a switch)."""
    if option is not None:
        option.metavar = ""
    return option


def _no_type(ctx: Any) -> None:
    """No type shown beside an argument (its help says what it is)."""


class Command(TyperCommand):
    """A command whose ``--help`` shows no type names: its help option is a switch, its arguments are
    described in words."""

    def get_help_option(self, ctx: Any) -> Any:
        """The help option, shown without a value name."""
        return _plain_help_option(super().get_help_option(ctx))

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The help, without an ``[env var: ...]`` line per option (the epilog says how they are
        named; an error about a value from the environment still names its variable)."""
        named = [param for param in self.params if getattr(param, "show_envvar", False)]
        for param in named:
            param.show_envvar = False  # type: ignore[attr-defined]
        try:
            super().format_help(ctx, formatter)
        finally:
            for param in named:
                param.show_envvar = True  # type: ignore[attr-defined]

    def get_params(self, ctx: Any) -> Any:
        """The parameters, arguments without a ``<type>`` column."""
        params = super().get_params(ctx)
        for param in params:
            if isinstance(param, TyperArgument):
                setattr(param, "display_type_rich", _no_type)  # noqa: B010 (a method replaced on one object)
        return params


class Group(TyperGroup):
    """The ``presend`` group, its ``--help`` shown as the switch it is."""

    def get_help_option(self, ctx: Any) -> Any:
        """The help option, shown without a value name."""
        return _plain_help_option(super().get_help_option(ctx))
