"""run_sync: a level's coroutine run from plain code and from inside a running loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pipeline.aiorun import run_sync


async def _where() -> str:
    await asyncio.sleep(0)
    return threading.current_thread().name


async def _fail() -> None:
    raise ValueError("boom")


def test_plain_code_runs_in_this_thread() -> None:
    assert run_sync(_where, name="side") == threading.current_thread().name


def test_inside_a_running_loop_it_uses_a_named_thread_and_reraises() -> None:
    async def caller() -> str:
        with pytest.raises(ValueError, match="boom"):
            run_sync(_fail)
        return run_sync(_where, name="side")

    assert asyncio.run(caller()) == "side"
