"""The Dask engine: a list judged by the workers of a dask.distributed cluster.

The run's process is the coordinator (:class:`~pipeline.engine.coordinator.Coordinator`): it
cuts the input into pieces of whole lines, keeps the duplicate index, the verdict cache, the
tally and the outputs, and commits in file order. The workers are stateless; each task is
one of:

- **prepare** a piece (:func:`pipeline.engine.steps.prepare`): the worker reads the piece's
  byte range itself, from ``--input-url`` (any fsspec URL) or the input's own path, which
  every worker must then reach; the prepared rows stay in the cluster's memory;
- **finish** it (:func:`pipeline.engine.steps.finish`) with the verdicts the coordinator
  found: its encoded lines come back, and the coordinator writes them;
- **resolve** a share of the new domains (MX), then of their mail hosts (A/AAAA): the
  names are shared out by their xxh3 hash, so each domain and each host is asked once in
  the whole cluster, as the local engine asks it;
- **probe** one group of mail hosts: the addresses to ask are grouped so that no two groups
  share a host, and the coordinator waits for every group before the next piece's, so each
  host is spoken to by one worker at a time with the run's ``--per-host`` and batches.

A worker that dies is replaced by Dask: its tasks run again elsewhere (every task can be
recomputed from the pieces). A cluster that cannot finish raises
:class:`~pipeline.errors.EngineError`, and ``--resume`` continues from the last commit.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import xxhash

from pipeline.bounced import Suppressions
from pipeline.dns.decide import AddressLookup, Decision, MxLookup, decide, hosts_to_look_up
from pipeline.dns.resolver import DnsResolver, Nameserver, utc_now
from pipeline.engine.base import EngineOutcome, InOrder, Job, paused_gc, stage_timings
from pipeline.engine.chunks import ChunkJudge
from pipeline.engine.coordinator import Coordinator, NetworkLevels, Slot
from pipeline.engine.steps import (
    Finished,
    Parsed,
    PieceProblem,
    Prepared,
    StepContext,
    Verdicts,
    finish,
    new_judge,
    prepare,
)
from pipeline.errors import EngineError, InputError, PresendError, UsageError
from pipeline.io.ingest import ReadStats, Table
from pipeline.io.pieces import FilePiece, TextPiece
from pipeline.io.positional import write_at
from pipeline.models import MailboxVerdict
from pipeline.options import DnsOptions, ProbeOptions, RunOptions
from pipeline.ports import DomainResolver, MailboxProber, ProbeTarget, ProgressCallback
from pipeline.probe.limits import HostLimits
from pipeline.probe.pending import Pending
from pipeline.probe.prober import ProbeFindings, SmtpProber
from pipeline.report.tally import DomainCounter
from pipeline.sender.findings import SenderImpact

__all__ = ["DaskEngine", "judge_on_cluster"]

#: Hygiene memo entries per worker thread (as the worker processes keep: see processes.py).
_MEMO_LIMIT = 100_000
#: Seconds to wait for a scheduler to answer, and for a local cluster's workers to start.
_CONNECT_SECONDS = 10


# --- on the workers --------------------------------------------------------------------------

_judges: dict[tuple[str, int], ChunkJudge] = {}
_judges_lock = threading.Lock()


def _judge(context: StepContext) -> ChunkJudge:
    """This worker thread's judge for the run (its hygiene memos last across its tasks)."""
    key = (context.token, threading.get_ident())
    with _judges_lock:
        judge = _judges.get(key)
        if judge is None:
            for old in [k for k in _judges if k[0] != context.token]:
                del _judges[old]  # a judge of an earlier run on this worker
            judge = _judges[key] = new_judge(context, _MEMO_LIMIT)
    return judge


@contextlib.contextmanager
def _without_gc() -> Iterator[None]:
    """No automatic garbage collection during a step (see :func:`~pipeline.engine.base.paused_gc`);
    a young-generation collection after it instead."""
    with paused_gc():
        yield
    gc.collect(0)


@contextlib.contextmanager
def _opened(url: str) -> Iterator[BinaryIO]:
    """The input as a binary file: a plain path, or any fsspec URL (``zip://...::file://...``)."""
    if "://" in url or "::" in url:
        import fsspec

        with fsspec.open(url, "rb") as handle:
            yield handle
    else:
        with open(url, "rb") as handle:
            yield handle


def prepare_task(context: StepContext, url: str, piece: TextPiece | FilePiece, header_pending: bool,
                 first: bool) -> Prepared:
    """Step 1 on a worker: the piece read from ``url`` (a FilePiece) or as sent (a TextPiece)."""
    judge = _judge(context)
    if isinstance(piece, TextPiece):
        with _without_gc():
            return prepare(judge, context, piece, -1, header_pending=header_pending, first=first)
    try:
        with _without_gc(), _opened(url) as handle:
            return prepare(judge, context, piece, handle, header_pending=header_pending, first=first)
    except OSError as exc:
        problem = f"a worker cannot read {url} ({exc.strerror or exc}); every worker must reach the input"
        return Prepared(Parsed(0, True, False, problem=PieceProblem(piece.first_line, problem)))


def parsed_of(prepared: Prepared) -> Parsed:
    """What the coordinator needs of a prepared piece (runs where the piece is)."""
    return prepared.parsed


def finish_task(context: StepContext, prepared: Prepared, verdicts: Verdicts) -> Finished:
    """Step 2 on a worker."""
    judge = _judge(context)
    judge.forget_domains()
    with _without_gc():
        return finish(judge, context, prepared, verdicts)


def mx_task(
    options: DnsOptions, nameservers: list[Nameserver], names: list[str]
) -> tuple[dict[str, MxLookup], Counter[str]]:
    """The MX answers of a share of the domains, and the questions it took."""
    resolver = DnsResolver(options, None, nameservers=nameservers)
    return resolver.look_up_mx(names), resolver.counters


def hosts_task(
    options: DnsOptions, nameservers: list[Nameserver], hosts: list[str]
) -> tuple[dict[str, AddressLookup], Counter[str]]:
    """The address answers of a share of the mail hosts, and the questions it took."""
    resolver = DnsResolver(options, None, nameservers=nameservers)
    return resolver.look_up_hosts(hosts), resolver.counters


def probe_task(
    options: ProbeOptions,
    targets: list[ProbeTarget],
    history: dict[str, Pending] | None = None,
    limits: dict[str, HostLimits] | None = None,
) -> tuple[dict[str, MailboxVerdict], ProbeFindings]:
    """Ask one group of mail hosts about their addresses (no cache: the coordinator has it;
    ``history``: the pending records of the due addresses among them; ``limits``: what the
    coordinator knows of the hosts' limits)."""
    prober = SmtpProber(options, None)
    prober.adopt(history or {}, targets)
    prober.seed_limits(limits or {})
    verdicts = prober.probe(targets)
    return verdicts, prober.findings()


# --- on the coordinator ----------------------------------------------------------------------


def _share(names: Sequence[str], parts: int) -> list[list[str]]:
    """``names`` shared out by their xxh3 hash (the same name always to the same share)."""
    shares: list[list[str]] = [[] for _ in range(parts)]
    for name in names:
        shares[xxhash.xxh3_64_intdigest(name.encode()) % parts].append(name)
    return [share for share in shares if share]


@dataclass
class SpreadResolution:
    """Resolves new domains on the cluster (a :class:`~pipeline.dns.resolver.FreshResolution`)."""

    client: Any
    parts: int

    def __call__(self, resolver: DnsResolver, names: list[str], progress: ProgressCallback) -> dict[str, Decision]:
        """MX of every name, then the addresses of the hosts not known yet; then decide each."""
        mx = self._ask(resolver, mx_task, names)
        wanted = {name: hosts_to_look_up(name, mx[name]) for name in names}
        hosts = list(dict.fromkeys(host for found in wanted.values() for host in found))
        known = resolver.known_hosts(hosts)
        fresh = self._ask(resolver, hosts_task, [host for host in hosts if host not in known])
        resolver.remember_hosts(fresh)
        known.update(fresh)
        checked_at = utc_now()
        decisions = {name: decide(name, mx[name], {h: known[h] for h in wanted[name]}, checked_at) for name in names}
        resolver.count(Counter(), len(names), progress)
        return decisions

    def _ask(self, resolver: DnsResolver, task: Any, names: list[str]) -> dict[str, Any]:
        futures = [self.client.submit(task, resolver.options, resolver.nameservers, share, pure=False)
                   for share in _share(names, self.parts)]
        answers: dict[str, Any] = {}
        for found, counters in _gather(self.client, futures):
            answers.update(found)
            resolver.count(counters, 0, _silent)
        return answers


def _silent(stage: str, done: int, total: int | None) -> None:
    """No progress to tell."""


def _host_groups(targets: Sequence[ProbeTarget]) -> list[list[ProbeTarget]]:
    """The targets grouped so that no two groups share a mail host (union of shared hosts)."""
    parent: dict[str, str] = {}

    def root(host: str) -> str:
        while parent.setdefault(host, host) != host:
            parent[host] = parent[parent[host]]
            host = parent[host]
        return host

    for target in targets:
        hosts = [mx.host.lower() for mx in target.mx_hosts] or [target.ascii_domain]
        for other in hosts[1:]:
            parent[root(other)] = root(hosts[0])
        root(hosts[0])
    groups: dict[str, list[ProbeTarget]] = {}
    for target in targets:
        first = target.mx_hosts[0].host.lower() if target.mx_hosts else target.ascii_domain
        groups.setdefault(root(first), []).append(target)
    return list(groups.values())


@dataclass
class SpreadProbing:
    """Probes on the cluster, one worker per group of hosts (a :class:`~pipeline.probe.prober.SpreadProbing`)."""

    client: Any

    def __call__(
        self, prober: SmtpProber, targets: Sequence[ProbeTarget], progress: ProgressCallback
    ) -> dict[str, MailboxVerdict]:
        """Every group at once on the cluster; back when all of them are done."""
        futures = [
            self.client.submit(
                probe_task, prober.options, group, prober.history_of(group), _known_limits(prober, group), pure=False
            )
            for group in _host_groups(targets)
        ]
        verdicts: dict[str, MailboxVerdict] = {}
        for found, findings in _gather(self.client, futures):
            verdicts.update(found)
            prober.absorb(findings)
        progress("mailboxes", len(verdicts), None)
        return verdicts


def _known_limits(prober: SmtpProber, group: Sequence[ProbeTarget]) -> dict[str, HostLimits]:
    """What the coordinator's prober knows of the limits of a group's mail hosts."""
    addresses = {a for target in group for mx in target.mx_hosts for a in mx.addresses}
    return {a: prober.limits(a) for a in sorted(addresses) if prober.limits(a)}


def _gather(client: Any, futures: list[Any]) -> list[Any]:
    """The futures' results; a failure becomes the run's error."""
    try:
        return list(client.gather(futures))
    except PresendError:
        raise
    except Exception as exc:
        raise _cluster_error(exc) from exc


def _cluster_error(exc: BaseException) -> EngineError:
    name = type(exc).__name__
    return EngineError(
        f"the dask cluster could not finish the run ({name}: {exc}); the committed rows are kept: "
        "run the same command with --resume to continue"
    )


@dataclass
class ClusterPool:
    """The cluster as a :class:`~pipeline.engine.coordinator.PiecePool`."""

    client: Any
    context: StepContext
    url: str
    outputs: dict[str, int]
    in_flight: int
    domains: DomainCounter
    _waiting: Any = None
    _owner: dict[Any, tuple[Slot, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from distributed import as_completed

        # Results are fetched as their tasks end, while the coordinator works.
        self._waiting = as_completed(loop=self.client.loop, with_results=True)

    def prepare(self, slot: Slot) -> None:
        """Submit step 1; only the piece's small :class:`Parsed` record comes back."""
        prepared = self.client.submit(prepare_task, self.context, self.url, slot.piece, slot.header_pending,
                                      slot.first, pure=False)
        parsed = self.client.submit(parsed_of, prepared, pure=False)
        slot.handle = [prepared, parsed]
        self._track(parsed, slot, "parsed")

    def finish(self, slot: Slot, verdicts: Verdicts) -> None:
        """Submit step 2 where the prepared piece is."""
        prepared = slot.handle[0]
        finished = self.client.submit(finish_task, self.context, prepared, verdicts, pure=False)
        slot.handle = [finished]
        self._track(finished, slot, "finished")

    def place(self, slot: Slot, offsets: dict[str, int]) -> None:
        """Write the finished piece's lines here, at their places."""
        assert slot.finished is not None
        for kind, offset in offsets.items():
            write_at(self.outputs[kind], slot.finished.lines[kind], offset)
        slot.written = True

    def drop(self, slot: Slot) -> None:
        """Forget the piece's futures (the cluster frees what nothing needs any more)."""
        for future in slot.handle or []:
            self._owner.pop(future, None)
        slot.handle = None

    def wait(self) -> None:
        """Record the next result of the cluster on its slot."""
        while True:
            try:
                future, result = next(self._waiting)
            except StopIteration:
                raise EngineError("the dask cluster has no task left to wait for") from None
            except PresendError:
                raise
            except Exception as exc:
                raise _cluster_error(exc) from exc
            owner = self._owner.pop(future, None)
            if owner is None:
                continue  # a piece dropped since
            slot, kind = owner
            if kind == "parsed":
                slot.parsed = result
            else:
                self.domains.add(result.alike_domains)
                self.domains.add(result.domain_rows)
                slot.finished = result
                slot.handle = None
            return

    def _track(self, future: Any, slot: Slot, kind: str) -> None:
        self._owner[future] = (slot, kind)
        self._waiting.add(future)


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Keep dask's own log lines off the caller's stderr while the run lasts (the library never prints)."""
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado", "asyncio")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def connect(options: RunOptions) -> Iterator[Any]:
    """A client of the cluster ``--scheduler`` names, or of a local cluster of ``--workers`` processes."""
    from distributed import Client, LocalCluster

    if options.scheduler:
        try:
            client = Client(options.scheduler, timeout=_CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(
                f"--scheduler {options.scheduler}: no dask scheduler answered ({exc}); "
                "start one with `dask scheduler`, or drop --scheduler for a local cluster"
            ) from exc
        with client:
            yield client
        return
    workers = options.workers or os.cpu_count() or 1
    # The scheduler serves its HTTP routes even without a dashboard: on a free port (":0"),
    # not on 8787, which another cluster may hold (dask would say so on stderr).
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=":0", silence_logs=logging.CRITICAL)
    try:
        with Client(cluster, set_as_default=False) as client:
            yield client
    finally:
        cluster.close()


def _input_url(options: RunOptions, table: Table) -> str:
    """Where the workers read the input; checked to hold as many bytes as the input here."""
    path = table.path.resolve()
    if not options.input_url:
        return str(path)
    import fsspec

    try:
        with fsspec.open(options.input_url, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
    except (OSError, ValueError, ImportError) as exc:
        raise InputError(f"--input-url {options.input_url}: cannot be read here ({exc})") from exc
    if size != path.stat().st_size:
        raise InputError(
            f"--input-url {options.input_url}: holds {size} bytes but {table.path} holds {path.stat().st_size}; "
            "it must be the same file"
        )
    return options.input_url


class DaskEngine:
    """The ``dask`` engine of the seam (:mod:`pipeline.engine.base`)."""

    name = "dask"

    def run(self, job: Job) -> EngineOutcome:
        """Judge the list on the cluster ``--scheduler`` names, or on a local one."""
        return judge_on_cluster(
            job.options, job.table, job.keep, job.resolver, job.prober, job.progress, job.done,
            bounces=job.bounces, sender=job.sender,
        )


def judge_on_cluster(
    options: RunOptions,
    table: Table,
    keep: InOrder,
    resolver: DomainResolver | None,
    prober: MailboxProber | None,
    progress: ProgressCallback,
    done: int = 0,
    *,
    bounces: Suppressions | None = None,
    sender: SenderImpact | None = None,
) -> EngineOutcome:
    """Judge the list on a Dask cluster; write and commit it piece by piece, in file order.

    ``sender`` (the sender checks' findings) travels to the workers in the step context.
    """
    from pipeline.engine.processes import cut_pieces, piece_lines

    text = table.text_format
    if text is None:
        raise UsageError(f"--engine dask reads delimited text; save {table.path.name} as CSV, or use another engine")
    url = _input_url(options, table)
    read = ReadStats()
    pieces = cut_pieces(table, piece_lines(options), read)
    with _quiet_logs(), connect(options) as client:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        levels = _levels(client, workers, resolver, prober, progress, bounces)
        outputs = keep.writer.open_for_others()
        context = StepContext(
            options, text, table.info, keep.writer.format, keep.tally.domain_cap, sender=sender, bounces=bounces
        )
        pool = ClusterPool(client, context, url, outputs, 4 * workers + 2, DomainCounter(keep.tally.domain_cap))
        try:
            coordinator = Coordinator(options, table, keep, pool, pieces, levels=levels, done=done, read=read)
            coordinator.run()
        finally:
            _unhook(resolver, prober)
        keep.tally.add_domain_rows([pool.domains])
        keep.writer.close_for_others()
    timings = stage_timings()
    timings.update(coordinator.timings)
    if levels is not None:
        timings.update(levels.timings)
    return EngineOutcome(name="dask", workers=workers, syntax=coordinator.syntax, timings=timings, read=read)


def _levels(client: Any, workers: int, resolver: DomainResolver | None, prober: MailboxProber | None,
            progress: ProgressCallback, bounces: Suppressions | None = None) -> NetworkLevels | None:
    """The network levels, their questions spread over the cluster (presend's own resolver and prober)."""
    if resolver is None:
        return None
    if not isinstance(resolver, DnsResolver) or (prober is not None and not isinstance(prober, SmtpProber)):
        raise UsageError("--engine dask spreads presend's own DNS resolver and SMTP prober, not others")
    resolver.fresh_resolution = SpreadResolution(client, workers)
    if prober is not None:
        prober.spread = SpreadProbing(client)
    return NetworkLevels(resolver, prober, progress, bounces)


def _unhook(resolver: DomainResolver | None, prober: MailboxProber | None) -> None:
    if isinstance(resolver, DnsResolver):
        resolver.fresh_resolution = None
    if isinstance(prober, SmtpProber):
        prober.spread = None
