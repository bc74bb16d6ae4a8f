"""The ``presend`` command: parse options, build the levels, run, print, exit.

This is the only place that prints or exits. Exit status: 0 the run completed; 2 a usage
or input error (one line naming the file/row/option); 1 anything else; 3 with
``--fail-over`` when the undeliverable share is above the threshold.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pipeline import __version__
from pipeline.errors import InputError, LockedError, OutputError, PresendError, UsageError
from pipeline.options import CacheOptions, DnsOptions, HygieneOptions, ProbeOptions, RunOptions

from .progress import make_progress

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_THRESHOLD = 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Clean an email list and forecast the SMTP reply each address would get.",
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"presend: error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def clean(
    input: Annotated[Path, typer.Argument(help="The list to clean (CSV, TSV or XLSX).")],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: beside the input).")] = None,
    email_column: Annotated[str | None, typer.Option("--email-column", help="Column holding the addresses.")] = None,
    nameserver: Annotated[list[str] | None, typer.Option("--nameserver", help="Resolver IP[:PORT]; repeatable.")] = None,
    no_dns: Annotated[bool, typer.Option("--no-dns", help="Stop after syntax (offline).")] = False,
    dns_concurrency: Annotated[int, typer.Option("--dns-concurrency", min=1, help="DNS queries in flight at once.")] = 64,
    dns_timeout: Annotated[float, typer.Option("--dns-timeout", min=0.1, help="Seconds per DNS query.")] = 5.0,
    allow_private_mx: Annotated[bool, typer.Option("--allow-private-mx", help="Treat loopback/private MX addresses as ordinary.")] = False,
    probe: Annotated[bool, typer.Option("--probe", help="Ask mail hosts with RCPT TO (never DATA).")] = False,
    mail_from: Annotated[str | None, typer.Option("--mail-from", help="MAIL FROM address (a domain you control).")] = None,
    helo: Annotated[str | None, typer.Option("--helo", help="EHLO/HELO name.")] = None,
    smtp_port: Annotated[int, typer.Option("--smtp-port", min=1, max=65535, help="SMTP port (labs).")] = 25,
    retry_after: Annotated[float, typer.Option("--retry-after", min=0, help="Seconds before retrying 450/451.")] = 300.0,
    max_retries: Annotated[int, typer.Option("--max-retries", min=0, help="Retries of temporary answers.")] = 1,
    probe_concurrency: Annotated[int, typer.Option("--probe-concurrency", min=1, help="SMTP sessions at once overall.")] = 20,
    per_host: Annotated[int, typer.Option("--per-host", min=1, help="SMTP sessions at once per mail host.")] = 2,
    smtp_timeout: Annotated[float, typer.Option("--smtp-timeout", min=0.1, help="Seconds for connect and each reply.")] = 20.0,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Addresses asked per SMTP session.")] = 25,
    cache: Annotated[Path | None, typer.Option("--cache", help="Verdict cache (SQLite) path.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Use no persistent cache.")] = False,
    keep_risky: Annotated[bool, typer.Option("--keep-risky", help="Put risky rows in the clean list too.")] = False,
    role_risky: Annotated[bool, typer.Option("--role-risky", help="Mark role accounts (info@ ...) risky.")] = False,
    canonical_duplicates: Annotated[bool, typer.Option("--canonical-duplicates", help="Provider-aware duplicates (Gmail dots, +tags).")] = False,
    report_rows: Annotated[int, typer.Option("--report-rows", min=0, help="Problem rows shown in the report.")] = 5000,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bars, no summary line.")] = False,
) -> None:
    """Clean INPUT and write <stem>.results.csv, .clean.csv, .summary.json and .report.html."""
    from pipeline.run import run

    if probe and not mail_from:
        raise _fail("--probe needs --mail-from ADDR (an address of a domain you control)")
    if probe and no_dns:
        raise _fail("--probe needs the DNS level; drop --no-dns")
    options = RunOptions(
        input=input,
        out_dir=out,
        email_column=email_column,
        dns=DnsOptions(
            enabled=not no_dns,
            nameservers=tuple(nameserver or ()),
            concurrency=dns_concurrency,
            timeout=dns_timeout,
            allow_private_mx=allow_private_mx,
        ),
        probe=ProbeOptions(
            enabled=probe,
            mail_from=mail_from or "",
            helo=helo or "",
            port=smtp_port,
            retry_after=retry_after,
            max_retries=max_retries,
            concurrency=probe_concurrency,
            per_host=per_host,
            timeout=smtp_timeout,
            batch_size=batch_size,
        ),
        hygiene=HygieneOptions(role_is_risky=role_risky, canonical_duplicates=canonical_duplicates),
        cache=CacheOptions(enabled=not no_cache, path=cache),
        keep_risky=keep_risky,
        report_row_cap=report_rows,
    )
    progress = make_progress(enabled=not quiet)
    try:
        resolver = prober = None
        if options.dns.enabled:
            from pipeline.dns import make_resolver

            resolver = make_resolver(options.dns, options.cache)
        if options.probe.enabled:
            from pipeline.probe import make_prober

            prober = make_prober(options.probe, options.cache)
        result = run(options, resolver=resolver, prober=prober, progress=progress)
    except (InputError, UsageError, OutputError, LockedError) as exc:
        raise _fail(str(exc)) from None
    except PresendError as exc:
        raise _fail(str(exc), EXIT_FAILURE) from None
    finally:
        progress.close()
    for note in result.notes:
        typer.echo(f"presend: note: {note}", err=True)
    if not quiet:
        counts = result.summary["by_status"]
        line = ", ".join(f"{counts[k]} {k}" for k in counts)
        typer.echo(f"{result.summary['rows']} rows: {line}")
        dns_stats = result.summary.get("dns") or {}
        if dns_stats:
            typer.echo(_dns_line(dns_stats))
        typer.echo(f"report: {result.paths['report']}")


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

    from pipeline.outputs import atomic_write_text
    from pipeline.report import render_report
    from pipeline.summary import read_results, results_summary, sibling_summary

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
    typer.echo(f"report: {target}")


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
    typer.echo(f"demo: {result.summary['rows']} rows in {time.perf_counter() - started:.1f} s: {line}")
    for kind in ("results", "clean", "summary"):
        typer.echo(f"{kind}: {result.paths[kind]}")
    typer.echo(f"report: {result.paths['report']}")


@app.command()
def version() -> None:
    """Print the presend version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("presend: interrupted; outputs were left as they were", err=True)
        sys.exit(130)
