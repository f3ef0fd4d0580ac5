"""Running a coroutine to completion from sync code, whether or not a loop is running."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` and return its result, blocking the caller.

    With no event loop running in this thread this is ``asyncio.run``; inside a running loop
    (where ``asyncio.run`` refuses) the coroutine runs on a fresh loop in a worker thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-blocking") as pool:
        return pool.submit(asyncio.run, coro).result()
