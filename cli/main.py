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
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from pipeline import __version__
from pipeline.config import Config
from pipeline.errors import InputError, LockedError, OutputError, PresendError, UsageError
from pipeline.io.safetext import printable
from pipeline.options import (
    CacheOptions,
    DnsOptions,
    HygieneOptions,
    OutOfRange,
    ProbeOptions,
    RunOptions,
    check_options,
    check_value,
    limit,
)

from .events import EventLog
from .progress import make_progress
from .signals import exit_status, stop_on_signals, stopped_by

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_THRESHOLD = 3

#: The range of --fail-over (a CLI setting, not a run option).
FAIL_OVER = limit("--fail-over", 0, 100, unit=" %")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Clean an email list and forecast the SMTP reply each address would get.",
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"presend: error: {printable(message)}", err=True)
    return typer.Exit(code)


def _say(line: str) -> None:
    """Print one line of a command's closing output on stdout (names made printable)."""
    typer.echo(printable(line))


@app.command()
def clean(
    ctx: typer.Context,
    input: Annotated[Path, typer.Argument(help="The list to clean (CSV, TSV or XLSX).")],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: beside the input).")] = None,
    email_column: Annotated[str | None, typer.Option("--email-column", help="Column holding the addresses.")] = None,
    encoding: Annotated[str | None, typer.Option("--encoding", help="The input's text encoding (cp1251, iso-8859-2, shift_jis ...) when presend's guess is wrong.")] = None,
    nameserver: Annotated[list[str] | None, typer.Option("--nameserver", help="Resolver IP[:PORT]; repeatable.")] = None,
    no_dns: Annotated[bool, typer.Option("--no-dns", help="Stop after syntax (offline).")] = False,
    dns_concurrency: Annotated[int, typer.Option("--dns-concurrency", help="DNS queries in flight at once.")] = 64,
    dns_timeout: Annotated[float, typer.Option("--dns-timeout", help="Seconds per DNS query.")] = 5.0,
    allow_private_mx: Annotated[bool, typer.Option("--allow-private-mx", help="Treat loopback/private MX addresses as ordinary.")] = False,
    probe: Annotated[bool, typer.Option("--probe", help="Ask mail hosts with RCPT TO (never DATA).")] = False,
    mail_from: Annotated[str | None, typer.Option("--mail-from", help="MAIL FROM address (a domain you control).")] = None,
    helo: Annotated[str | None, typer.Option("--helo", help="EHLO/HELO name.")] = None,
    smtp_port: Annotated[int, typer.Option("--smtp-port", help="SMTP port (labs).")] = 25,
    retry_after: Annotated[float, typer.Option("--retry-after", help="Seconds before retrying 450/451.")] = 300.0,
    max_retries: Annotated[int, typer.Option("--max-retries", help="Retries of temporary answers.")] = 1,
    probe_concurrency: Annotated[int, typer.Option("--probe-concurrency", help="SMTP sessions at once overall.")] = 20,
    per_host: Annotated[int, typer.Option("--per-host", help="SMTP sessions at once per mail host.")] = 2,
    smtp_timeout: Annotated[float, typer.Option("--smtp-timeout", help="Seconds for connect and each reply.")] = 20.0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Addresses asked per SMTP session.")] = 25,
    cache: Annotated[Path | None, typer.Option("--cache", help="Verdict cache (SQLite) path.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Use no persistent cache.")] = False,
    max_age: Annotated[str | None, typer.Option("--max-age", help="Refresh cached verdicts older than this (7d, 12h, 30m, 3600).")] = None,
    keep_risky: Annotated[bool, typer.Option("--keep-risky", help="Put risky rows in the clean list too.")] = False,
    role_risky: Annotated[bool, typer.Option("--role-risky", help="Mark role accounts (info@ ...) risky.")] = False,
    canonical_duplicates: Annotated[bool, typer.Option("--canonical-duplicates", help="Provider-aware duplicates (Gmail dots, +tags).")] = False,
    report_rows: Annotated[int, typer.Option("--report-rows", help="Problem rows shown in the report.")] = 5000,
    config: Annotated[Path | None, typer.Option("--config", help="Options file (default: ./presend.toml if present).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its last committed chunk.")] = False,
    fail_over: Annotated[float | None, typer.Option("--fail-over", metavar="PCT", help="Exit 3 when more than PCT % of rows are undeliverable.")] = None,
    log_format: Annotated[str, typer.Option("--log-format", help="stderr format: text, or json (one event per line).")] = "text",
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Rows judged and committed at a time.")] = 50_000,
    workers: Annotated[int, typer.Option("--workers", help="How many workers the engine uses (0 = one per CPU).")] = 0,
    engine: Annotated[str, typer.Option("--engine", help="Where rows are judged: auto, local (this process), processes (worker processes), dask (a Dask cluster).")] = "auto",
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="With --engine dask: the scheduler to use (tcp://HOST:8786); default: start a local cluster of --workers processes.")] = None,
    input_url: Annotated[str | None, typer.Option("--input-url", help="With --engine dask: where the workers read the input (any fsspec URL; default: its path).")] = None,
    plain_syntax: Annotated[bool, typer.Option("--plain-syntax", hidden=True, help="Reference path: email-validator on every row.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bars, no summary line.")] = False,
) -> None:
    """Clean INPUT and write <stem>.results.csv, .clean.csv, .summary.json and .report.html."""
    from pipeline.config import find_config, load_config, parse_duration
    from pipeline.io.charsets import canonical_encoding
    from pipeline.run import run

    given = {name: value for name, value in ctx.params.items()}
    log = EventLog("json" if log_format == "json" else "text", quiet)
    try:
        loaded = load_config(find_config(config))
        settings = _merge_config(ctx, given, loaded)
        if settings["log_format"] not in ("text", "json"):
            raise UsageError(f"--log-format: expected text or json, not {settings['log_format']!r}")
        log = EventLog(settings["log_format"], settings["quiet"])
        if settings["engine"] != "dask" and (settings["scheduler"] or settings["input_url"]):
            flag = "--scheduler" if settings["scheduler"] else "--input-url"
            raise UsageError(f"{flag} is for --engine dask; add --engine dask or drop {flag}")
        if settings["probe"] and not settings["mail_from"]:
            raise UsageError("--probe needs --mail-from ADDR (an address of a domain you control)")
        if settings["probe"] and settings["no_dns"]:
            raise UsageError("--probe needs the DNS level; drop --no-dns")
        ages = settings["max_age"]
        max_age_seconds = parse_duration(ages) if ages is not None else None
        if settings["encoding"] is not None:
            settings["encoding"] = canonical_encoding(settings["encoding"])
        options = _run_options(settings, max_age_seconds)
        _check_ranges(options, settings, loaded)
    except UsageError as exc:
        log.error(str(exc), EXIT_USAGE)
        raise typer.Exit(EXIT_USAGE) from None

    quiet = settings["quiet"]
    progress = make_progress(enabled=not quiet and not log.json)
    try:
        resolver = prober = None
        if options.dns.enabled:
            from pipeline.dns.resolver import make_resolver

            resolver = make_resolver(options.dns, options.cache)
        if options.probe.enabled:
            from pipeline.probe.prober import make_prober

            prober = make_prober(options.probe, options.cache)
        result = run(options, resolver=resolver, prober=prober, progress=progress, events=log)
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
    undeliverable = summary["by_status"].get("undeliverable", 0)
    share = 100.0 * undeliverable / rows if rows else 0.0
    threshold = settings["fail_over"]
    code = EXIT_THRESHOLD if threshold is not None and share > threshold else EXIT_OK
    log(
        "run_finished",
        {
            "rows": rows,
            "by_status": summary["by_status"],
            "undeliverable_percent": round(share, 2),
            "verdicts_from_cache": summary.get("verdicts_from_cache", {}),
            "outputs": {kind: str(path) for kind, path in result.paths.items()},
            "seconds": summary["timings_seconds"]["total"],
            "exit": code,
        },
    )
    if not quiet and not log.json:
        counts = summary["by_status"]
        line = ", ".join(f"{counts[k]} {k}" for k in counts)
        _say(f"{rows} rows: {line}")
        dns_stats = summary.get("dns") or {}
        if dns_stats:
            _say(_dns_line(dns_stats))
        _say(f"report: {result.paths['report']}")
    if code == EXIT_THRESHOLD:
        if not log.json:
            typer.echo(
                f"presend: {share:.1f}% of rows are undeliverable, above --fail-over {threshold:g}%", err=True
            )
        raise typer.Exit(EXIT_THRESHOLD)


def _merge_config(ctx: typer.Context, given: dict[str, Any], config: Config) -> dict[str, Any]:
    """Command-line values, with the config file filling every option not given explicitly."""
    settings = dict(given)
    for name, value in config.values.items():
        source = ctx.get_parameter_source(name) if name in given else None
        # Compared by name: typer ships its own copy of click's ParameterSource enum.
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT", "PROMPT"):
            continue
        settings[name] = value
    return settings


def _check_ranges(options: RunOptions, settings: dict[str, Any], config: Config) -> None:
    """Hold every value to its range (pipeline.options), naming the config file when it came from there."""
    try:
        check_options(options)
        if settings["fail_over"] is not None:
            check_value(FAIL_OVER, settings["fail_over"])
    except OutOfRange as exc:
        param = exc.flag.lstrip("-").replace("-", "_")
        if config.path is not None and param in config.values and config.values[param] == settings.get(param):
            raise UsageError(f"{exc} (set in {config.path})") from None
        raise


def _run_options(s: dict[str, Any], max_age: float | None) -> RunOptions:
    """Build the option records from merged settings."""
    return RunOptions(
        input=s["input"],
        out_dir=s["out"],
        email_column=s["email_column"],
        encoding=s["encoding"],
        dns=DnsOptions(
            enabled=not s["no_dns"],
            nameservers=tuple(s["nameserver"] or ()),
            concurrency=s["dns_concurrency"],
            timeout=s["dns_timeout"],
            allow_private_mx=s["allow_private_mx"],
        ),
        probe=ProbeOptions(
            enabled=s["probe"],
            mail_from=s["mail_from"] or "",
            helo=s["helo"] or "",
            port=s["smtp_port"],
            retry_after=s["retry_after"],
            max_retries=s["max_retries"],
            concurrency=s["probe_concurrency"],
            per_host=s["per_host"],
            timeout=s["smtp_timeout"],
            batch_size=s["batch_size"],
        ),
        hygiene=HygieneOptions(
            role_is_risky=s["role_risky"],
            canonical_duplicates=s["canonical_duplicates"],
            disposable_allow=tuple(s.get("disposable_allow", ())),
            disposable_block=tuple(s.get("disposable_block", ())),
        ),
        cache=CacheOptions(enabled=not s["no_cache"], path=s["cache"], max_age=max_age),
        keep_risky=s["keep_risky"],
        report_row_cap=s["report_rows"],
        chunk_size=s["chunk_size"],
        resume=s["resume"],
        workers=s["workers"],
        engine=s["engine"],
        scheduler=s["scheduler"],
        input_url=s["input_url"],
        fast_syntax=not s["plain_syntax"],
    )


def _dns_line(stats: dict[str, object]) -> str:
    """One line on the DNS level: domains, cache use, queries, main providers."""
    line = (
        f"dns: {stats.get('domains', 0)} domains, {stats.get('cache_hits', 0)} from cache, "
        f"{stats.get('queries', 0)} queries"
    )
    providers = stats.get("providers")
    if isinstance(providers, dict):
        named = [f"{name} {count}" for name, count in providers.items() if name != "other"][:5]
        if named:
            line += f"; providers: {', '.join(named)}"
    return line


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="A <stem>.results.csv written by presend clean.")],
    out: Annotated[Path | None, typer.Option("--out", help="HTML file to write (default: <stem>.report.html beside the results).")] = None,
    report_rows: Annotated[int, typer.Option("--report-rows", min=0, help="Problem rows shown in the report.")] = 5000,
) -> None:
    """Re-render the HTML report from a results file."""
    import os

    from pipeline.io.outputs import atomic_write_text
    from pipeline.report.html import render_report
    from pipeline.report.tally import read_results, results_summary, sibling_summary

    name = results.name
    stem = name[: -len(".results.csv")] if name.endswith(".results.csv") else results.stem
    target = out if out is not None else results.with_name(f"{stem}.report.html")
    try:
        if not results.is_file():
            raise InputError(f"{results}: no such file; give the path of a <stem>.results.csv")
        sibling = sibling_summary(results)
        email_column = (sibling or {}).get("input", {}).get("email_column")
        tally, info = read_results(results, row_cap=report_rows, email_column=email_column)
        summary = results_summary(info, tally, sibling)
        link = os.path.relpath(results.resolve(), target.resolve().parent)
        atomic_write_text(target, render_report(summary, tally, results_name=link))
    except (InputError, OutputError) as exc:
        raise _fail(str(exc)) from None
    except PresendError as exc:
        raise _fail(str(exc), EXIT_FAILURE) from None
    except OSError as exc:
        raise _fail(f"{target}: cannot be written ({exc.strerror}); choose another with --out") from None
    _say(f"report: {target}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("reports"),
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bars.")] = False,
) -> None:
    """Run the whole pipeline on sample_lists/demo.csv against an embedded loopback lab."""
    import time

    from pipeline.lab.demo import run_demo

    progress = make_progress(enabled=not quiet)
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
    counts = result.summary["by_status"]
    line = ", ".join(f"{counts[k]} {k}" for k in counts)
    _say(f"demo: {result.summary['rows']} rows in {time.perf_counter() - started:.1f} s: {line}")
    for kind in ("results", "clean", "summary"):
        _say(f"{kind}: {result.paths[kind]}")
    _say(f"report: {result.paths['report']}")


@app.command()
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
    """Whether the command line asked for JSON logs (read before the options could be parsed)."""
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return "--log-format=json" in argv or any(a == "--log-format" and b == "json" for a, b in pairs)


def main() -> None:
    """Console-script entry point."""
    stop_on_signals()
    try:
        code = app(standalone_mode=False)
        _leave(code if isinstance(code, int) else EXIT_OK)
    except _CLICK_ERROR as exc:
        _leave(_usage_error(exc, sys.argv[1:]))
    except typer.Abort as abort:
        # click turns a Ctrl-C it sees into Abort; the signal is kept as its cause.
        interrupt = abort.__cause__ or abort.__context__
        if not isinstance(interrupt, KeyboardInterrupt):
            _leave(EXIT_FAILURE)
        typer.echo(f"presend: {stopped_by(interrupt)}; outputs were left as they were", err=True)
        _leave(exit_status(interrupt))
    except KeyboardInterrupt as interrupt:
        typer.echo(f"presend: {stopped_by(interrupt)}; outputs were left as they were", err=True)
        _leave(exit_status(interrupt))
    except SystemExit as exc:
        if isinstance(exc.code, str):
            typer.echo(exc.code, err=True)
            _leave(EXIT_FAILURE)
        _leave(exc.code or EXIT_OK)
    _leave(EXIT_OK)


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
