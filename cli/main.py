"""The ``presend`` command: parse options, build the levels, run, print, exit.

This is the only place that prints or exits. Exit status: 0 the run completed; 2 a usage
or input error (one line naming the file/row/option); 1 anything else; 3 with
``--fail-over`` when the undeliverable share is above the threshold; 128 + the signal's
number when stopped by Ctrl-C (130), SIGTERM (143) or SIGHUP (129) (see cli.signals).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from pipeline import __version__
from pipeline.errors import InputError, LockedError, OutputError, PresendError, UsageError
from pipeline.io.safetext import printable
from pipeline.options import OutOfRange, RunOptions, build_options, check_options

from .calibrate import calibrate, suppress
from .check import check
from .closing import closing_lines
from .events import EXIT_FAILURE, EXIT_OK, EXIT_THRESHOLD, EXIT_USAGE, EventLog
from .helptext import CLEAN_EPILOG, Command, Group
from .params import (
    BY_FLAG,
    BY_NAME,
    early_value,
    loaded_config,
    set_by,
    settings_sources,
    with_check_parameters,
    with_option_parameters,
    with_sender_parameters,
)
from .progress import make_progress
from .sender import sender
from .settings import CliSettings
from .signals import exit_status, stop_on_signals, stopped_by
from .streams import stdin_spooled, write_results

#: --report-rows of ``presend report`` is the run option's.
REPORT_ROWS = BY_NAME["report_rows"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Clean an email list and forecast the SMTP reply each address would get.",
    pretty_exceptions_enable=False,
    cls=Group,
)


def _print_version(value: bool) -> None:
    """``presend --version``: print the version and leave (exit status 0)."""
    if value:
        _say(f"presend {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _presend(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                          callback=_print_version, metavar="")] = False,
) -> None:
    """Clean an email list and forecast the SMTP reply each address would get."""


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"presend: error: {printable(message)}", err=True)
    return typer.Exit(code)


def _say(line: str) -> None:
    """Print one line of a command's closing output on stdout (names made printable)."""
    typer.echo(printable(line))


def _warn(line: str) -> None:
    """A closing line on stderr (when stdout holds the results table)."""
    typer.echo(printable(line), err=True)


def clean(ctx: typer.Context, **values: Any) -> None:
    """Clean INPUT and write <stem>.results.csv, .clean.csv, .summary.json and .report.html."""
    import time

    from pipeline.run import network_levels, run

    started = time.perf_counter()

    # The values hold the config file's too (click's default_map): the log is as the user set it.
    log = EventLog("json" if values["log_format"] == "json" else "text", values["quiet"])
    try:
        settings, options = read_options(ctx, values)
    except UsageError as exc:
        log.error(str(exc), EXIT_USAGE)
        raise typer.Exit(EXIT_USAGE) from None
    log("settings", settings_sources(ctx))

    quiet = settings.quiet
    progress = make_progress(enabled=not quiet and not log.json, input_path=options.input)
    progress.begin(resuming=options.resume)
    try:
        with stdin_spooled(options) as spooled:
            resolver, prober = network_levels(spooled)
            result = run(spooled, resolver=resolver, prober=prober, progress=progress, events=progress.tee(log))
    except (InputError, UsageError, OutputError, LockedError) as exc:
        progress.close()
        log.error(str(exc), EXIT_USAGE)
        raise typer.Exit(EXIT_USAGE) from None
    except PresendError as exc:
        progress.close()
        log.error(str(exc), EXIT_FAILURE)
        raise typer.Exit(EXIT_FAILURE) from None
    except KeyboardInterrupt as interrupt:
        progress.close()
        code = exit_status(interrupt)
        log.error(
            f"{stopped_by(interrupt)}; the committed rows are kept: run the same command with --resume to continue",
            code,
        )
        raise typer.Exit(code) from None
    progress.close()
    summary = result.summary
    rows = summary["rows"]
    share = _percent(summary, "undeliverable")
    over = _over_thresholds(summary, settings)
    code = EXIT_THRESHOLD if over else EXIT_OK
    log(
        "run_finished",
        {
            "rows": rows,
            "by_status": summary["by_status"],
            "undeliverable_percent": round(share, 2),
            "unknown_percent": round(_percent(summary, "unknown"), 2),
            "verdicts_from_cache": summary.get("verdicts_from_cache", {}),
            "outputs": {kind: str(path) for kind, path in result.paths.items()},
            "seconds": summary["timings_seconds"]["total"],
            "exit": code,
        },
    )
    if settings.stdout:
        write_results(result.paths["results"], result.delimiter, settings.format)
    if not quiet and not log.json:
        say = _warn if settings.stdout else _say  # stdout holds the results table
        for line in closing_lines(summary, result.paths, time.perf_counter() - started):
            say(line)
    if code == EXIT_THRESHOLD:
        if not log.json:
            for line in over:
                typer.echo(f"presend: {line}", err=True)
        raise typer.Exit(EXIT_THRESHOLD)


def _percent(summary: dict[str, Any], status: str) -> float:
    """The share of the run's rows with ``status``, in per cent."""
    rows = summary["rows"]
    return 100.0 * summary["by_status"].get(status, 0) / rows if rows else 0.0


def _over_thresholds(summary: dict[str, Any], settings: CliSettings) -> list[str]:
    """A line per --fail-over threshold the run went past (none: exit 0)."""
    over = []
    for status, flag, threshold in (("undeliverable", "--fail-over", settings.fail_over),
                                    ("unknown", "--fail-over-unknown", settings.fail_over_unknown)):
        share = _percent(summary, status)
        if threshold is not None and share > threshold:
            over.append(f"{share:.1f}% of rows are {status}, above {flag} {threshold:g}%")
    return over


app.command(cls=Command, epilog=CLEAN_EPILOG)(with_option_parameters(clean))
app.command(name="check", cls=Command)(with_check_parameters(check))
app.command(name="calibrate", cls=Command)(calibrate)
app.command(name="suppress", cls=Command)(suppress)
app.command(name="sender", cls=Command)(with_sender_parameters(sender))


def read_options(ctx: typer.Context, values: dict[str, Any]) -> tuple[CliSettings, RunOptions]:
    """The command line's settings and the run's options, checked (the config file's error first).

    A value refused here is named with where it was set when that was not the command line
    (the config file, or the environment variable).
    """
    loaded_config(ctx)
    try:
        return _checked_options(values)
    except UsageError as exc:
        raise _naming_the_source(ctx, exc) from None


def _checked_options(values: dict[str, Any]) -> tuple[CliSettings, RunOptions]:
    """The settings and options built from the parameters' values, held to their ranges."""
    from pipeline.io.charsets import canonical_encoding

    settings = build_options(CliSettings, values)
    options = build_options(RunOptions, values)
    if options.probe.enabled and not options.probe.mail_from:
        raise UsageError("--probe needs --mail-from ADDR (an address of a domain you control)")
    if options.probe.enabled and not options.dns.enabled:
        raise UsageError("--probe needs the DNS level; drop --no-dns")
    if options.encoding is not None:
        options = replace(options, encoding=canonical_encoding(options.encoding))
    check_options(options)
    check_options(settings)
    return settings, options


def _naming_the_source(ctx: typer.Context, exc: UsageError) -> UsageError:
    """``exc`` with where its option was set added, when that was the config file or the environment.

    The option is the one an :class:`OutOfRange` names, or the flag that opens the message
    (``--max-age: expected a duration ...``).
    """
    flag = exc.flag if isinstance(exc, OutOfRange) else str(exc).split(":", 1)[0]
    where = set_by(ctx, flag) if flag in BY_FLAG else ""
    return UsageError(f"{exc}{where}") if where else exc


@app.command(cls=Command)
def report(
    results: Annotated[Path, typer.Argument(help="A <stem>.results.csv written by presend clean.", metavar="RESULTS.csv")],
    out: Annotated[Path | None, typer.Option("--out", help="HTML file to write (default: <stem>.report.html beside the results).", metavar="FILE.html")] = None,
    report_rows: Annotated[int, typer.Option("--report-rows", min=0, help=REPORT_ROWS.meta.help, metavar="N")] = REPORT_ROWS.default,
) -> None:
    """Re-render the HTML report from a results file (with the calibration section when a
    <stem>.calibration.json from presend calibrate lies beside it)."""
    from pipeline.report.rerender import rerender_report, results_stem

    target = out if out is not None else results.with_name(f"{results_stem(results)}.report.html")
    try:
        rerender_report(results, target, report_rows=report_rows)
    except (InputError, OutputError) as exc:
        raise _fail(str(exc)) from None
    except PresendError as exc:
        raise _fail(str(exc), EXIT_FAILURE) from None
    except OSError as exc:
        raise _fail(f"{target}: cannot be written ({exc.strerror}); choose another with --out") from None
    _say(f"report: {target}")


@app.command(cls=Command)
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder.", metavar="DIR")] = Path("reports"),
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bars.", metavar="")] = False,
) -> None:
    """Run the whole pipeline on sample_lists/demo.csv against an embedded loopback lab."""
    import time

    from pipeline.lab import DEMO_LIST
    from pipeline.lab.demo import run_demo

    progress = make_progress(enabled=not quiet, input_path=DEMO_LIST)
    started = time.perf_counter()
    try:
        result = run_demo(out, progress)
    except (InputError, UsageError, OutputError, LockedError) as exc:
        raise _fail(str(exc)) from None
    except PresendError as exc:
        raise _fail(str(exc), EXIT_FAILURE) from None
    except OSError as exc:
        raise _fail(f"the demo lab could not start on loopback: {exc}", EXIT_FAILURE) from None
    finally:
        progress.close()
    for line in closing_lines(result.summary, result.paths, time.perf_counter() - started):
        _say(line)


@app.command(cls=Command)
def version() -> None:
    """Print the presend version."""
    _say(__version__)


#: click's base of every command-line error (typer ships its own copy of click).
_CLICK_ERROR: type[Exception] = next(k for k in typer.BadParameter.__mro__ if k.__name__ == "ClickException")


def _usage_error(exc: Exception, argv: list[str]) -> int:
    """Print a command-line error as one line (or one JSON event); its exit status."""
    code = int(getattr(exc, "exit_code", EXIT_USAGE))
    if type(exc).__name__ == "NoArgsIsHelpError":
        return code  # the help was shown
    format_message = getattr(exc, "format_message", None)
    message = " ".join(str(format_message() if format_message else exc).split())
    command = next((arg for arg in argv if arg in app_commands()), "")
    hint = f"see presend {command + ' ' if command else ''}--help"
    text = f"{message[:1].lower()}{message[1:].rstrip('.')} ({hint})"
    EventLog("json" if _wants_json(argv) else "text").error(text, code)
    return code


def app_commands() -> set[str]:
    """The names of presend's commands."""
    return {command.name or command.callback.__name__ for command in app.registered_commands if command.callback}


def _wants_json(argv: list[str]) -> bool:
    """Whether JSON logs were asked for: on the command line, in the environment or in the config file.

    Read without click (the command line could not be parsed), with the same precedence.
    """
    return early_value(argv, "log_format") == "json"


def main() -> None:
    """Console-script entry point."""
    stop_on_signals()
    argv = sys.argv[1:]
    try:
        code = app(standalone_mode=False)
        _leave(code if isinstance(code, int) else EXIT_OK)
    except _CLICK_ERROR as exc:
        _leave(_usage_error(exc, argv))
    except typer.Abort as abort:
        # click turns a Ctrl-C it sees into Abort; the signal is kept as its cause.
        interrupt = abort.__cause__ or abort.__context__
        if not isinstance(interrupt, KeyboardInterrupt):
            _leave(EXIT_FAILURE)
        _stopped(interrupt, argv)
    except KeyboardInterrupt as interrupt:
        _stopped(interrupt, argv)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            _last_word(exc.code, EXIT_FAILURE, argv)
        _leave(exc.code or EXIT_OK)
    _leave(EXIT_OK)


def _stopped(interrupt: KeyboardInterrupt, argv: list[str]) -> NoReturn:
    """Leave after a signal that came before the run could start."""
    _last_word(f"{stopped_by(interrupt)}; outputs were left as they were", exit_status(interrupt), argv)


def _last_word(message: str, code: int, argv: list[str]) -> NoReturn:
    """Leave with ``code`` after one line on stderr: ``presend: message``, or an error event in JSON."""
    if _wants_json(argv):
        EventLog("json").error(message, code)
    else:
        typer.echo(f"presend: {printable(message)}", err=True)
    _leave(code)


def _leave(code: int) -> NoReturn:
    """Exit with ``code``, skipping the interpreter's tear-down when nothing is left running.

    A finished command has closed and renamed its files, released its lock and seen its
    worker processes end; freeing every module and object one by one would only add a
    noticeable pause to short runs. Logging and the standard streams are flushed first.
    With a thread or a child process still running, the ordinary exit waits for it.
    """
    if threading.active_count() > 1 or multiprocessing.active_children():
        sys.exit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
