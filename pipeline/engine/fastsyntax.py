"""The syntax layer at list scale: a regex pre-check over a whole chunk, email-validator for the rest.

Most cells of a real list are plain ASCII addresses of a simple shape. For those the verdict of
:func:`pipeline.rules.syntax.check_address` is known without running email-validator: the address is
valid, its local part is kept as written (except the RFC 2142 mailbox names, which
email-validator lower-cases), and its domain is lower-cased. :data:`FAST_ADDRESS` accepts only
such cells; everything else (blanks, wrappers, Unicode, IDNA, quoting, anything invalid) takes the
full path — each distinct cell once, in a process pool when a chunk holds many of them.

The pattern is deliberately narrower than what email-validator accepts (a domain with ``--``
anywhere goes the full way, for instance): a cell it lets through must give exactly the full
path's verdict. ``tests/test_fastsyntax.py`` checks that on generated and collected addresses.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import compress

import email_validator
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailSyntaxError
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, EMAIL_MAX_LENGTH
from email_validator.syntax import validate_email_domain_name, validate_email_local_part

from pipeline.engine.children import holding_stop_signals, start_child
from pipeline.models import AddressCheck
from pipeline.rules.syntax import LOCAL_PART_MAX_OCTETS, _failure, check_address, normalize, reason_for, refusal

# RFC 5322 §3.2.3 atext, exactly the class of email-validator's DOT_ATOM_TEXT.
_ATEXT = r"a-zA-Z0-9_!#$%&'*+/=?^`{|}~\-"
# RFC 1035 §2.3.1 / RFC 952: a label of letters, digits and hyphens, 1 to 63 octets, that neither
# starts nor ends with a hyphen. Possessive (no backtracking): a label is all of the run of such
# characters, which a dot must then follow — the pattern fails fast where it fails.
_LABEL_DOT = r"[a-zA-Z0-9][a-zA-Z0-9-]{0,62}+(?<!-)\."
# The last label must end with a letter (email-validator: "all TLDs currently end with a letter").
_TLD = r"[a-zA-Z0-9][a-zA-Z0-9-]{0,62}+(?<=[a-zA-Z])"

# Special-use names (RFC 6761) are refused: a one-label name is checked where the last label
# starts (the pattern's last label is the domain's), a dotted one against the whole domain.
_SPECIAL_LABELS = "|".join(re.escape(name) for name in SPECIAL_USE_DOMAIN_NAMES if "." not in name) or "(?!)"
_SPECIAL_DOTTED = "|".join(re.escape(name) for name in SPECIAL_USE_DOMAIN_NAMES if "." in name)
_NOT_SPECIAL_DOTTED = rf"(?!(?:[^@]*\.)?(?i:{_SPECIAL_DOTTED})\Z)" if _SPECIAL_DOTTED else ""

#: A cell that is, as it stands, a valid plain-ASCII address whose verdict needs no email-validator.
FAST_ADDRESS = re.compile(
    rf"(?=[^@]{{1,{LOCAL_PART_MAX_OCTETS}}}@)"  # local part within RFC 5321's 64 octets
    rf"(?=.{{1,{EMAIL_MAX_LENGTH}}}\Z)"  # whole address within 254 octets; no line break
    rf"[{_ATEXT}]++(?:\.[{_ATEXT}]++)*+@"  # dot-atom local part
    r"(?![^@]*--)"  # no R-LDH or Punycode label: IDNA rules apply, full path
    + _NOT_SPECIAL_DOTTED  # not a dotted special-use name
    + rf"(?:{_LABEL_DOT})++(?!(?i:{_SPECIAL_LABELS})\Z){_TLD}\Z"  # the last label not special-use
)
_CASELESS_LOCALS = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)

#: Distinct full-path cells in one chunk from which the process pool is used (it then works
#: while the run loop finishes the previous chunk).
POOL_THRESHOLD = 256
_POOL_BATCH = 250
_MEMO_LIMIT = 200_000
# check_address refuses line breaks first; email-validator splits at an unquoted @ or <.
_SPLIT_SPECIALS = ("@", "<", '"', "\r", "\n", "\x0b", "\x0c")
# What, besides its one @, keeps a candidate from splitting plainly (see _refused_part).
_UNPLAIN = _SPLIT_SPECIALS[1:]
# The verdicts check_address gives for email-validator's missing-@ and missing-domain messages.
_NO_AT = reason_for("An email address must have an @-sign.")
_NO_DOMAIN = reason_for("There must be something after the @-sign.")
_CAN_FORK = sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


def fast_email(cell: str) -> str | None:
    """The normalized address of a cell the pre-check accepts, else None (full path needed)."""
    if FAST_ADDRESS.match(cell) is None:
        return None
    return _normalized(cell, cell.lower())


def _normalized(cell: str, low: str) -> str:
    if low == cell:
        return cell
    at = cell.index("@")
    if low[:at] in _CASELESS_LOCALS:
        return low
    return cell[:at] + low[at:]


def fast_check(cell: str) -> AddressCheck | None:
    """The :class:`AddressCheck` of a pre-checked cell, or None when the full path must judge it."""
    email = fast_email(cell)
    return None if email is None else _fast_address_check(email)


def _fast_address_check(email: str) -> AddressCheck:
    local, _, domain = email.rpartition("@")
    return AddressCheck(True, email, local, domain, domain)


@dataclass(slots=True)
class SyntaxChunk:
    """The syntax verdicts of one chunk of cells, kept column-wise.

    ``emails[i]`` is the normalized address of cell ``i`` ("" when it is invalid) and
    ``keys[i]`` its case-insensitive duplicate key. Cells judged by the full path have their
    :class:`AddressCheck` in ``slow``; the others are built on demand by :meth:`check`.
    """

    emails: list[str]
    keys: list[str]
    slow: dict[int, AddressCheck] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.emails)

    def check(self, index: int) -> AddressCheck:
        """The same :class:`AddressCheck` that ``check_address`` gives for cell ``index``."""
        found = self.slow.get(index)
        if found is not None:
            return found
        return _fast_address_check(self.emails[index])

    def ascii_domain(self, index: int) -> str:
        """The IDNA domain of a valid cell ``index`` (as used for DNS)."""
        found = self.slow.get(index)
        if found is not None:
            return found.ascii_domain
        return self.emails[index].rpartition("@")[2]


def _unwrapped_check(cell: str) -> AddressCheck | None:
    """Verdicts that need no email-validator for cells the pre-check turned down.

    ``check_address`` judges ``normalize(cell)``, so a wrapped cell (blanks, ``mailto:``,
    ``Name <addr>``) whose candidate passes the pre-check has the pre-check's verdict. A
    non-empty ASCII candidate without any ``@``, ``<``, ``"`` or line break is rejected by
    email-validator's first step (splitting at the @-sign) whatever else it holds; one with
    a single ``@`` and none of the others gets the verdict of :func:`_refused_part` when
    that finds an error.
    """
    candidate = normalize(cell)
    if not candidate:
        return None
    email = fast_email(candidate)
    if email is not None:
        return _fast_address_check(email)
    if not candidate.isascii():
        return None
    if not any(c in candidate for c in _SPLIT_SPECIALS):
        return _failure(_NO_AT, candidate)
    if candidate.count("@") == 1 and not any(c in candidate for c in _UNPLAIN):
        return _refused_part(candidate)
    return None


def _refused_part(candidate: str) -> AddressCheck | None:
    """email-validator's verdict on a plain split (one @, no quote, angle bracket or line
    break, ASCII) when it turns down the local part or the domain, else None.

    Such a candidate splits at its @ with nothing to unquote or unwrap (and is left alone
    by Unicode normalization), so ``validate_email`` checks the local part, then that a
    domain is there, then the domain (a bracketed literal aside): the same calls, in the
    same order, give its first error without the character-by-character split.
    """
    local, _, domain = candidate.partition("@")
    try:
        validate_email_local_part(
            local,
            allow_smtputf8=email_validator.ALLOW_SMTPUTF8,
            allow_empty_local=email_validator.ALLOW_EMPTY_LOCAL,
            quoted_local_part=False,
            strict=email_validator.STRICT,
        )
        if not domain:
            return _failure(_NO_DOMAIN, candidate)
        if domain.startswith("[") and domain.endswith("]"):
            return None  # a domain literal: the full path
        validate_email_domain_name(
            domain,
            test_environment=email_validator.TEST_ENVIRONMENT,
            globally_deliverable=email_validator.GLOBALLY_DELIVERABLE,
        )
    except EmailSyntaxError as exc:
        return refusal(str(exc), candidate)
    return None


def _check_many(cells: list[str]) -> list[AddressCheck]:
    return [check_address(cell) for cell in cells]


class PendingSyntax:
    """A chunk being judged: :meth:`result` waits for the full path and fills the verdicts in."""

    def __init__(
        self,
        judge: SyntaxJudge,
        chunk: SyntaxChunk,
        leftovers: dict[int, str],
        found: dict[str, AddressCheck],
        todo: list[str],
        futures: list[Future[list[AddressCheck]]],
    ) -> None:
        self._judge = judge
        self._chunk = chunk
        self._leftovers = leftovers
        self._found = found
        self._todo = todo
        self._futures = futures

    def result(self) -> SyntaxChunk:
        """The verdicts of every cell submitted."""
        chunk, found = self._chunk, self._found
        if self._futures:
            checks = [check for future in self._futures for check in future.result()]
            found.update(zip(self._todo, checks, strict=True))
            self._futures = []
        if self._leftovers:
            self._judge._remember(list(found), list(found.values()))
            emails, keys = chunk.emails, chunk.keys
            for index, cell in self._leftovers.items():
                check = found[cell]
                chunk.slow[index] = check
                if check.ok:
                    emails[index] = check.email
                    keys[index] = check.key
            self._leftovers = {}
        return chunk


class SyntaxJudge:
    """Judges chunks of cells: the pre-check first, then each distinct leftover cell once.

    ``workers`` > 1 allows a process pool (started on first need) for chunks with at least
    :data:`POOL_THRESHOLD` distinct full-path cells; 0 means one worker per CPU.
    Call :meth:`close` when done.
    """

    def __init__(self, workers: int = 0) -> None:
        if not _CAN_FORK:
            workers = 1
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)
        self._memo: dict[str, AddressCheck] = {}
        self._pool: Executor | None = None
        self.fast = 0
        self.full = 0
        self.validator_calls = 0

    def judge(self, cells: Sequence[str]) -> SyntaxChunk:
        """Judge every cell; the result lines up with ``cells``."""
        return self.submit(cells).result()

    def submit(self, cells: Sequence[str]) -> PendingSyntax:
        """Start judging ``cells``: the pre-check now, the full path possibly in the pool.

        Call :meth:`PendingSyntax.result` for the verdicts; meanwhile the caller can work on
        something else (the run loop finishes the previous chunk).
        """
        match = FAST_ADDRESS.match
        hits = [match(cell) is not None for cell in cells]
        # The pre-checked cells are ASCII without line breaks: lower-cased all at once.
        fast = list(compress(cells, hits))
        lows = "\n".join(fast).lower().split("\n") if fast else []
        normalized = [cell if low == cell else _normalized(cell, low) for cell, low in zip(fast, lows, strict=True)]
        if len(fast) == len(cells):
            emails, keys, leftovers = normalized, lows, {}
        else:
            leftovers = {index: cells[index] for index, hit in enumerate(hits) if not hit}
            emails = [""] * len(cells)
            keys = [""] * len(cells)
            for index, email, low in zip(compress(range(len(cells)), hits), normalized, lows, strict=True):
                emails[index] = email
                keys[index] = low
        self.fast += len(cells) - len(leftovers)
        self.full += len(leftovers)
        chunk = SyntaxChunk(emails, keys)
        found: dict[str, AddressCheck] = {}
        todo: list[str] = []
        futures: list[Future[list[AddressCheck]]] = []
        if leftovers:
            memo = self._memo
            for cell in set(leftovers.values()):
                known = memo.get(cell)
                if known is None:
                    known = _unwrapped_check(cell)
                if known is None:
                    todo.append(cell)
                else:
                    found[cell] = known
            self.validator_calls += len(todo)
            if len(todo) >= POOL_THRESHOLD and self.workers > 1:
                pool = self._ensure_pool()
                batches = [todo[i : i + _POOL_BATCH] for i in range(0, len(todo), _POOL_BATCH)]
                # The pool forks its workers on the first submit: stop signals wait meanwhile.
                with holding_stop_signals():
                    futures = [pool.submit(_check_many, batch) for batch in batches]
            else:
                found.update(zip(todo, _check_many(todo), strict=True))
                todo = []
        return PendingSyntax(self, chunk, leftovers, found, todo, futures)

    def _remember(self, cells: list[str], checks: list[AddressCheck]) -> None:
        memo = self._memo
        if len(memo) + len(cells) > _MEMO_LIMIT:
            memo.clear()
        memo.update(zip(cells, checks, strict=True))

    def _ensure_pool(self) -> Executor:
        if self._pool is None:
            # fork: no re-import of the caller's main module, and a start in milliseconds.
            # The workers only run check_address (pure), so the parent's other threads
            # (resolver, progress bars) and their locks are never needed in a worker. They
            # die with this process and leave the stop signals to it (pipeline.engine.children).
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context, initializer=start_child, initargs=(os.getpid(),)
            )
        return self._pool

    def stats(self) -> dict[str, int]:
        """How many cells took each path, and how many email-validator calls were made."""
        return {"fast_path": self.fast, "full_path": self.full, "validator_calls": self.validator_calls}

    def close(self) -> None:
        """Stop the process pool, if one was started."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
