"""The persistent verdict cache: SQLite, one row per (kind, key), each with its own lifetime.

Levels store what they learnt (``kind`` = ``"domain"`` or ``"mailbox"``) with a lifetime
chosen per outcome (a DNS record's TTL, 30 days for a deliverable mailbox ...). A later run
reads back what is still fresh, so a nightly job does not ask the network again.
``max_age`` caps every lifetime (``--max-age``), forcing refreshes of older records.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

from pipeline.errors import OutputError
from pipeline.models import DomainVerdict, MailboxVerdict, MxHost, Status, Verdict
from pipeline.options import CacheOptions

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    stored_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
"""
_BATCH = 500


def default_cache_path() -> Path:
    """The cache file in the user's cache directory (platform-specific)."""
    return Path(user_cache_dir("presend", appauthor=False)) / "verdicts.sqlite3"


class VerdictCache:
    """A small key/value store with expiry, safe to share between threads."""

    def __init__(
        self,
        path: Path | str,
        *,
        max_age: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        self.max_age = max_age
        self.clock = clock
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(
                    f"{self.path.parent}: cannot create the cache folder ({exc.strerror}); "
                    "use --cache PATH or --no-cache"
                ) from exc
        try:
            self._db = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise OutputError(f"{path}: cannot open the cache ({exc}); use --cache PATH or --no-cache") from exc
        self._lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()

    @classmethod
    def from_options(cls, options: CacheOptions) -> VerdictCache | None:
        """Open the cache the options ask for, or return None when it is disabled."""
        if not options.enabled:
            return None
        return cls(options.path or default_cache_path(), max_age=options.max_age)

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Fresh values for those ``keys`` that have one; counts hits and misses."""
        wanted = list(dict.fromkeys(keys))
        now = self.clock()
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            for start in range(0, len(wanted), _BATCH):
                batch = wanted[start : start + _BATCH]
                marks = ",".join("?" * len(batch))
                rows = self._db.execute(
                    f"SELECT key, value, stored_at, expires_at FROM verdicts "
                    f"WHERE kind = ? AND key IN ({marks})",
                    (kind, *batch),
                ).fetchall()
                for key, value, stored_at, expires_at in rows:
                    if expires_at <= now:
                        continue
                    if self.max_age is not None and stored_at + self.max_age <= now:
                        continue
                    found[key] = json.loads(value)
        self.hits[kind] += len(found)
        self.misses[kind] += len(wanted) - len(found)
        return found

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The fresh value under ``key``, or None."""
        return self.get_many(kind, [key]).get(key)

    def put_many(self, kind: str, items: Iterable[tuple[str, dict[str, Any], float]]) -> None:
        """Store ``(key, value, lifetime_seconds)`` items; a lifetime <= 0 stores nothing."""
        now = self.clock()
        rows = [
            (kind, key, json.dumps(value, ensure_ascii=False), now, now + ttl)
            for key, value, ttl in items
            if ttl > 0
        ]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO verdicts (kind, key, value, stored_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute("COMMIT")
        self.writes[kind] += len(rows)

    def put(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> None:
        """Store one value for ``ttl`` seconds."""
        self.put_many(kind, [(key, value, ttl)])

    def entries(self, kind: str) -> list[tuple[str, dict[str, Any], float]]:
        """Every unexpired ``(key, value, stored_at)`` of one kind, by key (``max_age`` aside:
        for records kept until removed, such as the bounces of ``calibrate --suppress``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value, stored_at FROM verdicts WHERE kind = ? AND expires_at > ? ORDER BY key",
                (kind, self.clock()),
            ).fetchall()
        return [(key, json.loads(value), stored_at) for key, value, stored_at in rows]

    def delete(self, kind: str, keys: Iterable[str]) -> int:
        """Forget the values under ``keys``; how many there were."""
        wanted = list(dict.fromkeys(keys))
        gone = 0
        with self._lock:
            for start in range(0, len(wanted), _BATCH):
                batch = wanted[start : start + _BATCH]
                marks = ",".join("?" * len(batch))
                cursor = self._db.execute(f"DELETE FROM verdicts WHERE kind = ? AND key IN ({marks})", (kind, *batch))
                gone += cursor.rowcount
        return gone

    def purge_expired(self) -> int:
        """Delete expired rows; return how many went."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM verdicts WHERE expires_at <= ?", (self.clock(),))
        return cursor.rowcount

    def stats(self, kind: str) -> dict[str, int]:
        """Hit/miss/write counters of one kind, for summary.json."""
        return {
            "cache_hits": self.hits[kind],
            "cache_misses": self.misses[kind],
            "cache_writes": self.writes[kind],
        }

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


# --- record codecs: records <-> JSON-able dicts -----------------------------------------


def verdict_to_dict(verdict: Verdict) -> dict[str, Any]:
    """A Verdict as a JSON-able dict."""
    return {
        "status": verdict.status.value,
        "code": verdict.code,
        "enhanced": verdict.enhanced,
        "reason": verdict.reason,
        "detail": verdict.detail,
        "mx": verdict.mx,
        "checked_at": verdict.checked_at,
    }


def verdict_from_dict(data: dict[str, Any]) -> Verdict:
    """The inverse of :func:`verdict_to_dict`."""
    return Verdict(
        Status(data["status"]),
        data["code"],
        data["enhanced"],
        data["reason"],
        data["detail"],
        data.get("mx", ""),
        data.get("checked_at", ""),
    )


def domain_to_dict(domain: DomainVerdict) -> dict[str, Any]:
    """A DomainVerdict as a JSON-able dict."""
    return {
        "domain": domain.domain,
        "verdict": verdict_to_dict(domain.verdict) if domain.verdict else None,
        "mx_hosts": [[m.preference, m.host, list(m.addresses)] for m in domain.mx_hosts],
        "implicit_mx": domain.implicit_mx,
        "provider": domain.provider,
        "checked_at": domain.checked_at,
    }


def domain_from_dict(data: dict[str, Any]) -> DomainVerdict:
    """The inverse of :func:`domain_to_dict`; marks the record as coming from the cache."""
    return DomainVerdict(
        domain=data["domain"],
        verdict=verdict_from_dict(data["verdict"]) if data["verdict"] else None,
        mx_hosts=tuple(MxHost(p, h, tuple(a)) for p, h, a in data["mx_hosts"]),
        implicit_mx=data["implicit_mx"],
        provider=data.get("provider", ""),
        from_cache=True,
        checked_at=data.get("checked_at", ""),
    )


def mailbox_to_dict(mailbox: MailboxVerdict) -> dict[str, Any]:
    """A MailboxVerdict as a JSON-able dict."""
    return {
        "email": mailbox.email,
        "verdict": verdict_to_dict(mailbox.verdict),
        "catch_all": mailbox.catch_all,
        **({"size_limit": mailbox.size_limit} if mailbox.size_limit is not None else {}),
        **({"extensions": list(mailbox.extensions)} if mailbox.extensions else {}),
    }


def mailbox_from_dict(data: dict[str, Any]) -> MailboxVerdict:
    """The inverse of :func:`mailbox_to_dict`; marks the record as coming from the cache."""
    return MailboxVerdict(
        email=data["email"],
        verdict=verdict_from_dict(data["verdict"]),
        catch_all=data["catch_all"],
        from_cache=True,
        size_limit=data.get("size_limit"),
        extensions=tuple(data.get("extensions", ())),
    )
