"""Judging one chunk of rows: syntax, duplicates, verdict columns.

:class:`ChunkJudge` holds what judging keeps across chunks (the duplicate index, the
domain verdicts, the hygiene memos, the templates of shared outcomes) and turns a chunk's
rows into the values of RESULT_COLUMNS: each row's outcome is :func:`pipeline.verdict.decide`'s,
written by :func:`pipeline.columns.encode`, either on its own or through a
:class:`~pipeline.columns.Template` made that way from the first row that shares it. The
steps can also be taken one at a time (:meth:`ChunkJudge.duplicate_keys`,
:meth:`ChunkJudge.columns`) by a process that judges chunks while another keeps the
duplicate index (see :mod:`pipeline.engine.processes`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import compress

import numpy as np

from pipeline.bounced import Suppressions
from pipeline.columns import CHECKED_AT_SLOT, REASON, Template, encode
from pipeline.engine.fastsyntax import PendingSyntax, SyntaxChunk, SyntaxJudge
from pipeline.io.ingest import RowChunk
from pipeline.io.outputs import CsvLines
from pipeline.models import DomainVerdict, MailboxVerdict
from pipeline.options import RunOptions
from pipeline.ports import DomainResolver, MailboxProber, ProbeTarget, ProgressCallback
from pipeline.rules.dedupe import DuplicateIndex, hash_keys
from pipeline.rules.hygiene import Hygiene
from pipeline.rules.syntax import check_address
from pipeline.rules.tlds import deciding_name
from pipeline.sender.findings import SenderImpact
from pipeline.verdict import RowFacts, VerdictOptions, decide, duplicate_detail, shares_outcome

#: Templates the general path keeps (then it forgets them all and starts again).
TEMPLATE_MEMO_LIMIT = 100_000

__all__ = ["AlikeRows", "ChunkJudge", "duplicates_found", "lap", "utc_now"]


def utc_now() -> str:
    """The current time as ISO-8601 UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def lap(timings: dict[str, float], name: str, since: float) -> float:
    """Add the seconds since ``since`` to ``timings[name]``; the time now (for the next lap)."""
    now = time.perf_counter()
    timings[name] = timings.get(name, 0.0) + now - since
    return now


def duplicates_found(valid: Sequence[int], firsts: np.ndarray) -> dict[int, int]:
    """``{chunk index: first row}`` of the rows ``DuplicateIndex.first_rows`` found repeated.

    ``valid`` are the chunk indexes whose keys were looked up, ``firsts`` its answer.
    """
    repeated = np.flatnonzero(firsts >= 0)
    return {valid[j]: int(firsts[j]) for j in repeated.tolist()}


@dataclass(slots=True)
class AlikeRows:
    """The common rows of a chunk as CSV text (see :meth:`ChunkJudge.columns_as_text`).

    ``tails[i]`` is the text of row ``i``'s result columns, after the delimiter that ends its
    input cells ("" for the rows left as column lists); ``domains`` are the domains of the
    common rows that are not duplicates, as the tally counts them (lower case), in order;
    ``counted`` lists each :class:`~pipeline.columns.Template` the text came from with the
    number of rows it gave (see :meth:`~pipeline.report.tally.Tally.count_alike`); ``status``
    and ``reason`` are the status and reason of the common rows that are not duplicates
    ("" when there are none).

    With ``duplicates_as_text``, the plain duplicates of such rows come as text too:
    ``duplicates`` lists their indexes (rows kept out of the clean list).
    """

    tails: list[str]
    lines: CsvLines
    duplicates_as_text: bool = False
    domains: list[str] = field(default_factory=list)
    counted: list[tuple[Template, int]] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    status: str = ""
    reason: str = ""

    def record(self, templates: Sequence[Template | None], counts: Sequence[int]) -> None:
        """Note how many rows each template gave (templates of new addresses share one status and reason)."""
        for template, count in zip(templates, counts, strict=True):
            if template is None or not count:
                continue
            self.counted.append((template, count))
            if template.with_detail:
                continue
            reason = template.columns[REASON]
            if self.status and (template.status, reason) != (self.status, self.reason):
                raise ValueError(
                    f"common rows of two kinds in one chunk: {self.status} {self.reason}, {template.status} {reason}"
                )
            self.status, self.reason = template.status, reason


class ChunkJudge:
    """Holds what the loop keeps across chunks and judges one chunk at a time.

    The fast way: syntax column-wise (:class:`SyntaxJudge`), duplicates through the hashed
    index, verdict columns assembled from memoized parts. With ``options.fast_syntax`` off,
    every row goes through ``check_address`` and ``RowOutcome`` one by one: the reference
    the fast way must match.
    """

    def __init__(
        self,
        options: RunOptions,
        email_index: int,
        resolver: DomainResolver | None,
        prober: MailboxProber | None,
        progress: ProgressCallback,
        *,
        dns_level: bool | None = None,
        syntax_workers: int | None = None,
        sender: SenderImpact | None = None,
    ) -> None:
        self.options = options
        self.email_index = email_index
        self.resolver = resolver
        self.prober = prober
        self.progress = progress
        #: The DNS level ran (here, through ``resolver``, or elsewhere: the domain verdicts
        #: are then put in :attr:`domains` by whoever resolved them).
        self.dns_level = resolver is not None if dns_level is None else dns_level
        self.hygiene = Hygiene(options.hygiene)
        self.verdict_options = VerdictOptions(role_is_risky=options.hygiene.role_is_risky, sender=sender)
        # The general path's templates of shared outcomes (see _columns_general), keyed by the
        # DomainVerdict's identity (self.domains keeps each alive for the whole run, so an id
        # is never reused) and flags, or by the duplicate note (a text, never an id) and flags.
        self._shared: dict[tuple[object, ...], Template] = {}
        self.syntax = SyntaxJudge(options.workers if syntax_workers is None else syntax_workers)
        self.index = DuplicateIndex()
        self.domains: dict[str, DomainVerdict] = {}
        #: the real bounces kept by ``calibrate --suppress`` (None: none)
        self.bounces: Suppressions | None = None
        self.timings: dict[str, float] = {"syntax": 0.0, "duplicates": 0.0, "dns": 0.0, "probe": 0.0, "verdicts": 0.0}

    def forget_domains(self) -> None:
        """Drop the domain verdicts and the templates made from them (a worker that is sent
        each piece's verdicts anew: a template is keyed by its verdict's identity)."""
        self.domains = {}
        self._shared.clear()

    def close(self) -> None:
        """Release the syntax process pool."""
        self.syntax.close()

    def email_cells(self, chunk: RowChunk) -> list[str]:
        """The email cell of each row ("" when a short row has none)."""
        at = self.email_index
        return [cells[at] if len(cells) > at else "" for cells in chunk.cells]

    def start(self, chunk: RowChunk, cells: list[str]) -> PendingSyntax | SyntaxChunk:
        """Begin a chunk: the syntax pre-check now, the full syntax path in the background."""
        started = time.perf_counter()
        problems = chunk.problems
        pending: PendingSyntax | SyntaxChunk
        if self.options.fast_syntax:
            judged = [cell if i not in problems else "" for i, cell in enumerate(cells)] if problems else cells
            pending = self.syntax.submit(judged)
        else:
            pending = _plain_syntax(cells, problems)
        self.timings["syntax"] += time.perf_counter() - started
        return pending

    def finish(self, chunk: RowChunk, pending: PendingSyntax | SyntaxChunk) -> list[list[str]]:
        """The RESULT_COLUMNS values of every row of a chunk begun with :meth:`start`."""
        started = time.perf_counter()
        syntax = pending.result() if isinstance(pending, PendingSyntax) else pending
        now = time.perf_counter()
        self.timings["syntax"] += now - started

        # Duplicates: the first row holding a key keeps it; later rows point back to it.
        started = now
        valid, keys = self.duplicate_keys(chunk, syntax)
        firsts = self.index.first_rows(hash_keys(keys), np.asarray(valid, dtype=np.int64) + chunk.start)
        duplicate_of = duplicates_found(valid, firsts)
        fresh = [i for i in valid if i not in duplicate_of] if duplicate_of else valid
        if self.bounces:
            # An address that bounced hard is decided by its bounce: no level asks about it.
            hard, emails = self.bounces.is_hard, syntax.emails
            fresh = [i for i in fresh if not hard(emails[i])]
        now = time.perf_counter()
        self.timings["duplicates"] += now - started

        if self.resolver is not None:
            started = now
            wanted = {syntax.ascii_domain(i) for i in fresh} - self.domains.keys()
            if wanted:
                self.domains.update(self.resolver.resolve(wanted, self.progress))
            now = time.perf_counter()
            self.timings["dns"] += now - started

        mailboxes: dict[str, MailboxVerdict] = {}
        if self.prober is not None and self.resolver is not None:
            started = now
            targets = []
            for i in fresh:
                domain = self.domains.get(syntax.ascii_domain(i))
                if domain is None or not domain.accepts_mail:
                    continue
                check = syntax.check(i)
                targets.append(
                    ProbeTarget(
                        check.email, check.local, check.domain, check.ascii_domain, check.smtputf8, domain.mx_hosts
                    )
                )
            if targets:
                mailboxes = self.prober.probe(targets, self.progress)
            now = time.perf_counter()
            self.timings["probe"] += now - started

        started = now
        columns = self.columns(chunk, syntax, duplicate_of, mailboxes)
        self.timings["verdicts"] += time.perf_counter() - started
        return columns

    def duplicate_keys(self, chunk: RowChunk, syntax: SyntaxChunk) -> tuple[list[int], list[str]]:
        """The chunk indexes of the rows holding a valid address, and each one's duplicate key."""
        problems = chunk.problems
        emails = syntax.emails
        if problems:
            valid = [i for i, email in enumerate(emails) if email and i not in problems]
        else:
            valid = list(compress(range(len(emails)), emails))  # in C: the rows with an address
        if self.options.hygiene.canonical_duplicates or not self.options.fast_syntax:
            return valid, [self.hygiene.duplicate_key(syntax.check(i)) for i in valid]
        # Without canonical duplicates the key is the address case-folded (AddressCheck.key).
        if not problems:
            return valid, list(compress(syntax.keys, emails))
        all_keys = syntax.keys
        return valid, [all_keys[i] for i in valid]

    def columns(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        mailboxes: dict[str, MailboxVerdict],
    ) -> list[list[str]]:
        """The RESULT_COLUMNS values of every row (``duplicate_of``: chunk index → first row)."""
        return self._fill(chunk, syntax, duplicate_of, mailboxes, None)

    def columns_as_text(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        lines: CsvLines,
        *,
        duplicates_as_text: bool = False,
        mailboxes: dict[str, MailboxVerdict] | None = None,
    ) -> tuple[list[list[str]], AlikeRows]:
        """:meth:`columns`, with the common rows of a run without DNS given as CSV text instead.

        The common rows (see :meth:`_columns_offline`) differ only by their address and
        flags: their result columns come back as ``lines``-formatted text in
        :attr:`AlikeRows.tails` (their column lists stay empty), which is what a worker
        writes and tallies without building a list per row. Where there are no common rows
        to speak of (DNS, ``--plain-syntax``, canonical duplicates) every row comes as columns.
        With ``duplicates_as_text`` (for a tally that keeps no more problem rows) the plain
        duplicates of those rows come as text as well (see :class:`AlikeRows`).
        """
        alike = AlikeRows([""] * len(syntax.emails), lines, duplicates_as_text)
        return self._fill(chunk, syntax, duplicate_of, mailboxes or {}, alike), alike

    def _fill(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        mailboxes: dict[str, MailboxVerdict],
        alike: AlikeRows | None,
    ) -> list[list[str]]:
        checked_at = utc_now()
        n = len(syntax.emails)
        rows: list[list[str]] = [[]] * n
        rest: Sequence[int] = range(n)
        if not self.dns_level and self.options.fast_syntax and not self.options.hygiene.canonical_duplicates:
            rest = self._columns_offline(chunk, syntax, duplicate_of, checked_at, rows, alike)
        if rest:
            self._columns_general(chunk, syntax, duplicate_of, mailboxes, checked_at, rows, rest)
        return rows

    def _columns_offline(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        checked_at: str,
        rows: list[list[str]],
        alike: AlikeRows | None = None,
    ) -> list[int]:
        """Fill ``rows`` for the common rows of a run without DNS; the indexes of the others.

        A valid address whose domain has no typo suggestion and is not disposable, and whose
        role flag is harmless, has the outcome of any other such address with the same
        role and free flags, but for its address (or, repeated, the duplicate outcome of any
        such address, but for its detail and address). So per combination of those flags
        (``kind``) the first row that needs it makes a :class:`Template` of its outcome
        (:meth:`_template`), and every row of that kind is the template around its own
        values: as column lists, or with ``alike`` as text (see :meth:`columns_as_text`).
        The flags come from the hygiene memos (filled on first sight).
        """
        problems = chunk.problems
        slow = syntax.slow
        role_is_risky = self.verdict_options.role_is_risky
        facts_get = self.hygiene.offline_domain_facts.get
        role_get = self.hygiene.role_memo.get
        facts_for = self.hygiene.facts_for
        role_for = self.hygiene.role_for
        rest: list[int] = []
        # Per kind: the templates of a new address and of a duplicate, and their rows' count.
        fresh: list[Template | None] = [None] * 4
        repeated: list[Template | None] = [None] * 4
        fresh_counts = [0, 0, 0, 0]
        repeated_counts = [0, 0, 0, 0]
        # Per kind, what a row is made of: the columns around its address (as lists), or
        # the texts between its values (as text).
        around: list[tuple[list[str], list[str]] | None] = [None] * 4
        fresh_texts: list[tuple[str, ...] | None] = [None] * 4
        repeated_texts: list[tuple[str, ...] | None] = [None] * 4
        as_text = alike is not None
        duplicates_as_text = alike is not None and alike.duplicates_as_text
        lines = alike.lines if alike is not None else CsvLines(",")  # (text is made only with alike)
        field, delimiter = lines.field, lines.delimiter
        tails = alike.tails if alike is not None else []
        domains = alike.domains if alike is not None else []
        duplicates = alike.duplicates if alike is not None else []
        bounced = self.bounces.facts if self.bounces else None
        for i, email in enumerate(syntax.emails):
            if not email or (problems and i in problems) or (bounced and email.lower() in bounced):
                rest.append(i)  # a kept bounce is no shared outcome either
                continue
            check = slow.get(i) if slow else None
            if check is None:
                local, _, ascii_domain = email.rpartition("@")
            else:
                local, ascii_domain = check.local, check.ascii_domain
            facts = facts_get(ascii_domain) or facts_for(ascii_domain, False)
            role = role_get(local)
            if role is None:
                role = role_for(local)
            if facts[0] or facts[2] or facts[4]:
                # disposable, a suggestion, or known offline not to take mail: not a shared
                # outcome (shares_outcome)
                rest.append(i)
                continue
            kind = (role << 1) | facts[1]
            if duplicate_of and (first := duplicate_of.get(i)) is not None:
                template = repeated[kind]
                if template is None:
                    template = repeated[kind] = self._template(syntax, i, first, None, checked_at)
                detail = duplicate_detail(first, email)  # no note: no canonical duplicates here (_fill)
                if not duplicates_as_text:
                    rows[i] = template.fill(email, detail)
                    continue
                texts = repeated_texts[kind]
                if texts is None:
                    texts = repeated_texts[kind] = template.tail_texts(lines)
                # A valid address holds no line break; a quote or the delimiter makes it quoted.
                if '"' in email or delimiter in email:
                    email = field(email)
                    detail = field(detail)
                elif delimiter in detail:
                    detail = field(detail)
                tails[i] = texts[0] + detail + texts[1] + email + texts[2]
                repeated_counts[kind] += 1
                duplicates.append(i)
                continue
            if role and role_is_risky:
                rest.append(i)  # lowered to risky, its local part named: not shared
                continue
            if not as_text:
                columns = around[kind]
                if columns is None:
                    template = fresh[kind] = self._template(syntax, i, None, None, checked_at)
                    columns = around[kind] = template.around_address()
                rows[i] = [*columns[0], email, *columns[1]]
                continue
            texts = fresh_texts[kind]
            if texts is None:
                template = fresh[kind] = self._template(syntax, i, None, None, checked_at)
                texts = fresh_texts[kind] = template.tail_texts(lines)
            tails[i] = texts[0] + (field(email) if '"' in email or delimiter in email else email) + texts[1]
            fresh_counts[kind] += 1
            # The tally's domain: a pre-checked address has its domain in lower case already.
            domains.append(ascii_domain if check is None else email.rpartition("@")[2].lower())
        if alike is not None:
            alike.record(fresh, fresh_counts)
            alike.record(repeated, repeated_counts)
        return rest

    def _template(
        self, syntax: SyntaxChunk, i: int, first: int | None, domain: DomainVerdict | None, checked_at: str
    ) -> Template:
        """The template of row ``i``'s outcome (a shared one: see :func:`shares_outcome`)."""
        check = syntax.check(i)
        facts = RowFacts(
            check,
            first_row=first,
            duplicate_note=self.hygiene.duplicate_note(check),
            domain=domain,
            flags=self.hygiene.flags(check, domain),
            checked_at=checked_at,
            offline=self.hygiene.offline(check.ascii_domain),
        )
        return Template.like(decide(facts, self.verdict_options), detail=first is not None)

    def _columns_general(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        mailboxes: dict[str, MailboxVerdict],
        checked_at: str,
        rows: list[list[str]],
        indexes: Sequence[int],
    ) -> None:
        """Fill ``rows[i]`` for each of ``indexes``, row by row, any level, any option.

        A row's columns are :func:`decide`'s outcome of its facts, encoded. Where that outcome
        is shared (:func:`shares_outcome`), they come from the template of the first row
        with the same domain verdict and flags (or duplicate note), made the same way, with
        the row's own values in place. With ``--plain-syntax`` (the reference) every row is
        decided on its own.
        """
        problems = chunk.problems
        emails = syntax.emails
        slow = syntax.slow
        domains = self.domains if self.dns_level else None
        flags_for = self.hygiene.flags_for
        offline_of = self.hygiene.offline
        options = self.verdict_options
        shared = self._shared if self.options.fast_syntax else None
        if shared is not None and len(shared) >= TEMPLATE_MEMO_LIMIT:
            shared.clear()
        bounced = self.bounces.facts if self.bounces else None
        for i in indexes:
            email = emails[i]
            if shared is None or not email or (problems and i in problems) or (bounced and email.lower() in bounced):
                rows[i] = encode(decide(self._facts(chunk, syntax, i, duplicate_of, mailboxes, checked_at), options))
                continue
            check = slow.get(i)
            if check is None:
                # A pre-checked address: its parts are in the address itself (see fastsyntax).
                local, _, ascii_domain = email.rpartition("@")
            else:
                local, ascii_domain = check.local, check.ascii_domain
            domain = domains.get(ascii_domain) if domains is not None else None
            flags = flags_for(local, ascii_domain, domain)
            offline = offline_of(ascii_domain) if domain is None else ""
            if not shares_outcome(mailboxes.get(email) if mailboxes else None, flags, options):
                rows[i] = encode(decide(self._facts(chunk, syntax, i, duplicate_of, mailboxes, checked_at), options))
                continue
            first = duplicate_of.get(i) if duplicate_of else None
            if first is None:
                # Offline, a domain known not to take mail has the verdict of its standing and name.
                known = (offline, deciding_name(ascii_domain)) if offline else ()
                key: tuple[object, ...] = (id(domain), flags.role, flags.free, *known)
                detail = ""
            else:
                note = self.hygiene.duplicate_note(syntax.check(i))
                key = (note, flags.role, flags.free)
                detail = duplicate_detail(first, email, note)
            template = shared.get(key)
            if template is None:
                template = shared[key] = self._template(syntax, i, first, domain, CHECKED_AT_SLOT)
            rows[i] = template.fill(email, detail, checked_at)

    def _facts(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        i: int,
        duplicate_of: dict[int, int],
        mailboxes: dict[str, MailboxVerdict],
        checked_at: str,
    ) -> RowFacts:
        """What is known about row ``i`` of a chunk once its levels ran."""
        problem = chunk.problems.get(i) if chunk.problems else None
        if problem:
            return RowFacts(problem=problem)
        check = syntax.check(i)
        if not check.ok:
            return RowFacts(check, checked_at=checked_at)
        domain = self.domains.get(check.ascii_domain) if self.dns_level else None
        first = duplicate_of.get(i) if duplicate_of else None
        return RowFacts(
            check,
            first_row=first,
            duplicate_note=self.hygiene.duplicate_note(check) if first is not None else "",
            domain=domain,
            mailbox=mailboxes.get(check.email) if mailboxes else None,
            flags=self.hygiene.flags(check, domain),
            checked_at=checked_at,
            bounced=self.bounces.get(check.email) if self.bounces else None,
            offline=self.hygiene.offline(check.ascii_domain),
        )


def _plain_syntax(cells: Sequence[str], problems: dict[int, str]) -> SyntaxChunk:
    """check_address on every cell, one by one (no pre-check, no memo)."""
    chunk = SyntaxChunk([], [])
    for i, cell in enumerate(cells):
        if i in problems:
            chunk.emails.append("")
            chunk.keys.append("")
            continue
        check = check_address(cell)
        chunk.slow[i] = check
        chunk.emails.append(check.email if check.ok else "")
        chunk.keys.append(check.key)
    return chunk
