"""run_blocking: sync code can finish a coroutine with or without a running event loop."""

from __future__ import annotations

import asyncio

from luminad.providers.blocking import run_blocking


async def _answer() -> int:
    await asyncio.sleep(0)
    return 42


def test_runs_without_a_loop() -> None:
    assert run_blocking(_answer()) == 42


def test_runs_inside_a_running_loop() -> None:
    async def caller() -> int:
        return run_blocking(_answer())  # asyncio.run would raise here

    assert asyncio.run(caller()) == 42
