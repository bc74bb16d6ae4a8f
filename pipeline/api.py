"""presend from Python: a list (a path, a file object or a pandas DataFrame) in, DataFrames out.

:func:`clean` runs the very pipeline ``presend clean`` runs (:func:`pipeline.run.run`: the same
engines, the same verdict path), on a copy of the list in a temporary folder unless ``out_dir``
asks for the files, and reads the results back as DataFrames whose index is the input's::

    import pandas as pd
    import pipeline

    contacts = pd.DataFrame({"Name": ["Ann", "Bob"], "Email": ["ann@example.com", "bob@@example"]})
    done = pipeline.clean(contacts, no_dns=True)
    done.results[["Email", "presend_status", "presend_code", "presend_reason"]]
    done.clean          # the rows safe to send, original columns only
    done.summary["by_status"]

    pipeline.check("ann@example.com", nameserver=["127.0.0.1:5353"])["presend_status"]

Options are the command line's, by their names (``no_dns=True``, ``nameserver=[...]``,
``dns_timeout=3``, ``probe=True``, ``mail_from=...``, ``engine="local"``); an unknown name or a
value out of range raises :class:`~pipeline.errors.UsageError`. With the DNS level on and no
``nameserver``, the system's resolvers are asked, as the command line does.
"""

from __future__ import annotations

import asyncio
import csv
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias

from pipeline.columns import RESULT_COLUMNS
from pipeline.errors import UsageError
from pipeline.io.outputs import SENDABLE_REASONS, SENDER_REASON_PREFIX, sendable_statuses
from pipeline.options import RunOptions, build_options, check_options, option_specs
from pipeline.ports import DomainResolver, MailboxProber

if TYPE_CHECKING:
    import pandas as pd

    #: What :func:`clean` takes as a list.
    Source: TypeAlias = str | os.PathLike[str] | IO[str] | IO[bytes] | pd.DataFrame

__all__ = ["CleanResult", "acheck", "check", "clean"]


@dataclass
class CleanResult:
    """What :func:`clean` gives back.

    ``results``: every input row, in input order and with the input's index, its original
    columns (as text) followed by the ``presend_*`` columns; ``clean``: the rows safe to send,
    original columns only; ``summary``: what summary.json holds; ``paths``: the files written
    (empty unless ``out_dir`` was given).
    """

    results: pd.DataFrame
    clean: pd.DataFrame
    summary: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)


def clean(
    source: Source,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    resolver: DomainResolver | None = None,
    prober: MailboxProber | None = None,
    **options: Any,
) -> CleanResult:
    """Clean a list and return its results as DataFrames (see the module docstring).

    ``resolver`` and ``prober`` replace the ones the options would build (a test's lab, say).
    """
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="presend-") as work:
        folder = Path(work)
        path, index = _as_file(source, folder)
        target = Path(out_dir) if out_dir is not None else folder / "out"
        target.mkdir(parents=True, exist_ok=True)
        run_options = _options(path, target, options)
        done = _run(run_options, resolver, prober)
        results = pd.read_csv(done.paths["results"], dtype=str, keep_default_na=False, encoding="utf-8-sig",
                              sep=done.delimiter)
    if index is not None:
        results.index = index
    original = list(results.columns[: len(results.columns) - len(RESULT_COLUMNS)])
    return CleanResult(results, results.loc[_sendable(results, run_options), original],
                       done.summary, dict(done.paths) if out_dir is not None else {})


def check(address: str, **options: Any) -> dict[str, str]:
    """The ``presend_*`` columns one address gets: a one-row :func:`clean`, on the local engine."""
    import pandas as pd

    if not address.strip():
        raise UsageError("no address to check (an empty one)")
    options.setdefault("engine", "local")
    done = clean(pd.DataFrame({"Email": [address]}), **options)
    row = done.results.iloc[0]
    return {column: str(row[column]) for column in RESULT_COLUMNS}


async def acheck(address: str, **options: Any) -> dict[str, str]:
    """:func:`check` without blocking the event loop (it runs in a worker thread)."""
    return await asyncio.to_thread(check, address, **options)


# --- the parts ---------------------------------------------------------------------------


def _as_file(source: Source, folder: Path) -> tuple[Path, Any]:
    """The list as a file presend reads, and the index to give the results (None: 0, 1, 2 ...):
    a frame's own, but for its blank rows, which presend skips (and counts) as it skips a file's."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        path = folder / "list.csv"
        text = source.astype(object).where(source.notna(), "").astype(str)
        text.columns = [str(name) for name in source.columns]
        # Every value quoted: a row of empty values is then a row (an empty line would be skipped
        # as blank), so the results have one row per row of the frame.
        text.to_csv(path, index=False, encoding="utf-8", quoting=csv.QUOTE_ALL)
        return path, source.index[(text != "").any(axis=1).to_numpy()]
    if isinstance(source, (str, os.PathLike)):
        return Path(source), None
    data = source.read()
    path = folder / f"{Path(getattr(source, 'name', 'list.csv')).stem or 'list'}.csv"
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path, None


def _options(path: Path, out: Path, given: dict[str, Any]) -> RunOptions:
    """The run's options from keyword arguments named like the command line's options."""
    names = {spec.name for spec in option_specs(RunOptions)} - {"input", "out"}
    unknown = sorted(set(given) - names)
    if unknown:
        raise UsageError(f"unknown option {', '.join(unknown)}; options are named like the command line's: "
                         f"{', '.join(sorted(names))}")
    options = build_options(RunOptions, {**given, "input": path, "out": out})
    check_options(options)
    return options


def _run(options: RunOptions, resolver: DomainResolver | None, prober: MailboxProber | None) -> Any:
    """:func:`pipeline.run.run`, with the levels' resolver and prober built from the options if not given."""
    from pipeline.run import network_levels, run

    # Build only the levels the caller did not bring.
    wanted = replace(options, dns=replace(options.dns, enabled=resolver is None and options.dns.enabled),
                     probe=replace(options.probe, enabled=prober is None and options.probe.enabled))
    built_resolver, built_prober = network_levels(wanted)
    return run(options, resolver=resolver or built_resolver, prober=prober or built_prober)


def _sendable(results: pd.DataFrame, options: RunOptions) -> Any:
    """Which results rows the clean list holds (the rule of :func:`pipeline.io.outputs.is_sendable`):
    the sendable statuses, the rows only left unchecked, and the rows held back only by a
    sender finding; ill-formed rows and duplicates never are."""
    status, reason = results["presend_status"], results["presend_reason"]
    sendable = status.isin(sendable_statuses(options.keep_risky)) | reason.isin(SENDABLE_REASONS)
    held = (status == "unknown") & reason.str.startswith(SENDER_REASON_PREFIX, na=False)
    return (sendable | held) & (reason != "malformed_row")
