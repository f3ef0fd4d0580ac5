"""The cores are one budget: an engine that returns leaves no thread of the process computing
(a pool that spin-waits after its work takes a core from the LLM that runs next)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np

from luminad.providers.embeddings import MiniLmEmbedder
from luminad.providers.smart_turn import SmartTurn
from luminad.providers.threads import quiet_blas
from tests.support.procfs import cpu_seconds
from tests.support.speech import speak_pcm16


def _cpu_ms_of_other_threads() -> float:
    """CPU time (ms) used so far by this process's threads other than the calling one."""
    me = str(threading.get_native_id())
    others = [tid for tid in os.listdir("/proc/self/task") if tid != me]
    return 1000 * sum(cpu_seconds(f"/proc/self/task/{tid}/stat") or 0.0 for tid in others)


def _busy_after(work: list[object], window_s: float = 0.3) -> float:
    """CPU time (ms) the other threads use in the ``window_s`` after ``work`` returned."""
    before = _cpu_ms_of_other_threads()
    time.sleep(window_s)
    return _cpu_ms_of_other_threads() - before


def test_the_judge_and_the_memory_search_leave_no_thread_spinning(tmp_path: Path) -> None:
    """Measured before: the embedder's onnxruntime worker spun 40-50 ms of a core after each
    sentence, and numpy's OpenBLAS pool 130 ms after the smart-turn features' mel product."""
    quiet_blas()  # as load_engines does
    embedder, judge = MiniLmEmbedder(), SmartTurn()
    pcm = speak_pcm16("What is the weather like in Paris today?", tmp_path, wpm=175)
    embedder.embed(["warm up"])
    judge.probability(pcm)
    time.sleep(0.5)  # first runs may start pools

    embedded = embedder.embed(["What is the weather like in Paris today?"])
    assert _busy_after([embedded]) <= 20

    p = judge.probability(pcm)
    assert _busy_after([p]) <= 20

    spectrum = np.random.default_rng(0).random((801, 201)) @ np.ones((201, 80))
    assert _busy_after([spectrum]) <= 20
