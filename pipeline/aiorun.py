"""Running a level's asyncio engine from the synchronous run loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(make: Callable[[], Awaitable[T]], *, name: str = "presend-async") -> T:
    """Run the coroutine ``make()`` to completion and return its value.

    From plain synchronous code this is ``asyncio.run``. When the caller already runs inside
    an event loop (a notebook, an async application embedding presend), a nested
    ``asyncio.run`` is not allowed, so the coroutine gets its own loop in a short-lived
    thread named ``name``; its exception, if any, is re-raised in the caller's thread.
    """

    async def main() -> T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(main())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=name)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
