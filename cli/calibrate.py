"""``presend calibrate`` and ``presend suppress``: the forecast against real outcomes, and the kept bounces."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.errors import InputError, OutputError, PresendError, UsageError
from pipeline.io.safetext import printable

from .events import EXIT_FAILURE, EXIT_USAGE

if TYPE_CHECKING:
    from pipeline.cache import VerdictCache

__all__ = ["calibrate", "suppress"]


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"presend: error: {printable(message)}", err=True)
    return typer.Exit(code)


def _cache(path: Path | None) -> VerdictCache:
    """The verdict cache at ``path`` (default: the one ``clean`` uses)."""
    from pipeline.cache import VerdictCache, default_cache_path

    return VerdictCache(path or default_cache_path())


def calibrate(
    results: Annotated[Path, typer.Argument(help="A <stem>.results.csv written by presend clean.")],
    outcomes: Annotated[list[Path], typer.Argument(help="Mail logs, DSNs (.eml or mbox), ESP exports, or folders of them.")],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: beside the results).")] = None,
    suppress: Annotated[bool, typer.Option("--suppress", help="Keep the hard bounces (and count soft ones) for the next clean.")] = False,
    cache: Annotated[Path | None, typer.Option("--cache", help="Verdict cache (SQLite) path for --suppress.")] = None,
) -> None:
    """Hold the forecast in RESULTS against what really happened; write <stem>.calibration.json and .html."""
    from pipeline.calibrate.run import calibrate as run_calibration

    if cache is not None and not suppress:
        raise _fail("--cache is where --suppress keeps the bounces; add --suppress, or drop --cache")
    store = None
    try:
        store = _cache(cache) if suppress else None
        done = run_calibration(results, outcomes, out_dir=out, suppress=store)
    except (InputError, OutputError, UsageError) as exc:
        raise _fail(str(exc)) from None
    except PresendError as exc:
        raise _fail(str(exc), EXIT_FAILURE) from None
    finally:
        if store is not None:
            store.close()
    line = done.line
    if "suppressed" in done.data:
        kept = done.data["suppressed"]
        line += f"; kept {kept['hard']} hard, {kept['soft']} soft bounces"
    typer.echo(printable(line))
    typer.echo(printable(f"calibration: {done.paths['json']} {done.paths['html']}"))


def suppress(
    list_: Annotated[bool, typer.Option("--list", help="Print the kept bounces, one address a line.")] = False,
    remove: Annotated[list[str] | None, typer.Option("--remove", metavar="ADDR", help="Forget an address; repeatable.")] = None,
    cache: Annotated[Path | None, typer.Option("--cache", help="Verdict cache (SQLite) path.")] = None,
) -> None:
    """See and edit the bounces kept by presend calibrate --suppress."""
    from pipeline.bounced import quote_reply
    from pipeline.calibrate.suppress import forget, kept

    if not list_ and not remove:
        raise _fail("give --list or --remove ADDR (see presend suppress --help)")
    try:
        store = _cache(cache)
    except OutputError as exc:
        raise _fail(str(exc)) from None
    try:
        missing = [address for address in remove or [] if not forget(store, address)]
        for address in remove or []:
            if address not in missing:
                typer.echo(printable(f"removed: {address}"))
        if list_:
            facts = kept(store)
            if not facts:
                typer.echo("presend: no bounces kept (presend calibrate --suppress keeps them)", err=True)
            for fact in facts:
                kind = "hard" if fact.hard else f"soft x{fact.soft_count}"
                reply = quote_reply(fact.code, fact.enhanced, fact.text) if fact.hard else fact.soft_text
                when = fact.at if fact.hard else fact.soft_at
                typer.echo(printable(f"{fact.email}  {kind}  {when}  {reply}"))
    finally:
        store.close()
    if missing:
        raise _fail(f"not kept: {', '.join(missing)} (see presend suppress --list)")
