"""``presend sender --from ADDR [...]``: the sender readiness report, without a list.

The same checks ``presend clean --from ...`` folds into every row (see
:mod:`pipeline.sender.readiness`), printed as text or JSON. Exit status: 0 ready; 3 when a
finding would draw refusals (the same number as ``--fail-over``: "do not send yet"); 2 a
usage error; 1 anything else. The relay's password comes from the variable ``--password-env``
names or, with ``--user`` and a terminal, from a hidden prompt; never from a flag.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer

from pipeline.errors import PresendError, UsageError
from pipeline.options import DnsOptions, SenderOptions, build_options, check_options

from .events import EXIT_FAILURE, EXIT_THRESHOLD, EXIT_USAGE, EventLog
from .params import loaded_config

#: ``presend sender``'s exit status when a problem finding exists.
EXIT_NOT_READY = EXIT_THRESHOLD


def sender(ctx: typer.Context, output_format: str, **values: Any) -> None:
    """Check the sending side (From domain, SPF, DKIM, DMARC, IPs, provider rules) and print the report."""
    from pipeline.sender.readiness import check_sender, report_data
    from pipeline.sender.render import readiness_text

    log = EventLog("json" if values.get("log_format") == "json" else "text")
    try:
        if output_format not in ("text", "json"):
            raise UsageError(f"--format: expected text or json, not {output_format!r}")
        loaded_config(ctx)  # a config file that could not be read is a usage error
        options = build_options(SenderOptions, values)
        dns = build_options(DnsOptions, values)
        check_options(options)
        check_options(dns)
        if not options.enabled:
            raise UsageError("--from ADDR is required: the campaign's From address")
        if not dns.enabled:
            raise UsageError("presend sender asks DNS; drop --no-dns")
        password = relay_password(options)
        report = check_sender(options, dns, mail_from=values.get("mail_from") or "", password=password)
    except UsageError as exc:
        log.error(str(exc), EXIT_USAGE)
        raise typer.Exit(EXIT_USAGE) from None
    except PresendError as exc:
        log.error(str(exc), EXIT_FAILURE)
        raise typer.Exit(EXIT_FAILURE) from None
    if output_format == "json":
        typer.echo(json.dumps(report_data(report), ensure_ascii=False, indent=2))
    else:
        typer.echo(readiness_text(report), nl=False)
    if not report.ready:
        raise typer.Exit(EXIT_NOT_READY)


def relay_password(options: SenderOptions) -> str | None:
    """The relay's password: ``$VAR`` of ``--password-env``, else a hidden prompt (with
    ``--user``, a relay and a terminal), else None (the relay check then tries no AUTH)."""
    if options.password_env:
        value = os.environ.get(options.password_env)
        if value is None:
            raise UsageError(f"--password-env {options.password_env}: that environment variable is not set")
        return value
    if options.relay and options.user and sys.stdin.isatty():
        answer: str = typer.prompt(f"Password for {options.user} at {options.relay}", hide_input=True)
        return answer
    return None
