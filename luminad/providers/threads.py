"""How many CPU threads one engine may use.

The voice loop runs STT, the LLM and TTS at the same time, and whisper.cpp, llama.cpp and
onnxruntime all spin-wait in their thread pools: oversubscribed, they slow down tenfold
(measured on 2 cores: whisper tiny.en 0.5 s with 1 thread vs 2-9 s with 2 threads while other
work ran). So each engine gets at most half the cores, and at least one.

The exception is a short burst when nothing else runs: the final speech-to-text pass of an
utterance runs while the LLM and TTS wait for its transcript (and the partial passes were
stopped), so it may take every core (:func:`burst_threads`): 2 threads on 2 quiet cores cut
whisper tiny.en on a 3 s utterance from ~215 ms to ~130 ms. Only when the machine is quiet,
though: :class:`CpuWatch` tells whether other processes keep a core busy.

Within this process, :data:`CORES` knows which engines compute at this moment (each whisper,
llama.cpp, Piper and smart-turn run says so): the LLM writes on every core only while nothing
else of the process runs, and steps down to its share, between two tokens, as soon as TTS
speaks the first chunk or a transcription pass starts (and back up when they are done).

And no pool may go on spinning once its work is done, or it takes a core from whatever runs
next (in the voice loop, the LLM): onnxruntime sessions are made by :func:`onnx_session`, and
numpy's BLAS runs on one thread (:func:`quiet_blas`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def engine_threads(requested: int) -> int:
    cores = os.cpu_count() or 2
    return max(1, min(requested, cores // 2))


def burst_threads(requested: int) -> int:
    """Threads for work that runs alone (nothing else computes meanwhile): up to every core."""
    cores = os.cpu_count() or 2
    return max(1, min(requested, cores))


def quiet_blas() -> None:
    """numpy's BLAS on one thread, for the whole process. Its pool (OpenBLAS) spin-waits after
    every product: measured here, 130 ms of a core after a 0.4 ms one (the smart-turn features'
    mel filters, computed just as the LLM starts the reply); on one thread that product takes
    0.75 ms and nothing spins."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def onnx_session(path: Path, threads: int) -> Any:
    """An onnxruntime CPU session of the model at ``path`` on at most ``threads`` threads, one
    operator at a time, whose pool threads sleep when idle instead of spin-waiting (by default
    they spin after every run: measured here, the embedder's worker burnt 40-50 ms of a core after
    each 4 ms sentence, while the LLM evaluated the prompt that follows the memory search)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class CpuWatch:
    """How busy the *other* processes kept the cores since the last look.

    Linux: ``/proc/stat`` busy time minus this process's own CPU time, over the wall time since
    the previous :meth:`others_busy` call (the STT engine looks at every pass, so the window is
    the last few hundred ms). Elsewhere, or after a long gap, the 1-minute load average less one
    core (this process's own partial passes). Used to decide whether a burst of threads can run
    without fighting another job for the cores (spin-waiting pools oversubscribed run ~10x
    slower: measured 7.9 s instead of 0.13 s for a whisper pass beside a busy benchmark).
    """

    #: A window longer than this (s) says nothing about now: use the load average.
    max_window_s = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[float, float, float] | None = None  # wall, busy s, own cpu s

    @staticmethod
    def _busy_s() -> float | None:
        try:
            with open("/proc/stat", encoding="ascii") as fh:
                fields = fh.readline().split()
        except OSError:
            return None
        if not fields or fields[0] != "cpu":
            return None
        ticks = [int(x) for x in fields[1:8]]  # user nice system idle iowait irq softirq
        busy = sum(ticks) - ticks[3] - ticks[4]
        return busy / _CLK_TCK

    def others_busy(self) -> float:
        """Cores' worth of CPU used by other processes since the last call (0 = quiet)."""
        wall, own = time.monotonic(), time.process_time()
        busy = self._busy_s()
        with self._lock:
            last = self._last
            self._last = (wall, busy if busy is not None else 0.0, own)
        if busy is not None and last is not None and 0.05 <= wall - last[0] <= self.max_window_s:
            return max(0.0, (busy - last[1]) - (own - last[2])) / (wall - last[0])
        try:
            return max(0.0, os.getloadavg()[0] - 1.0)
        except OSError:
            return 0.0


class ThreadBurst:
    """An engine's thread count per run: its steady share, or ``burst`` threads for work that
    runs alone, when :class:`CpuWatch` finds the other processes quiet."""

    #: Other processes' CPU use (cores) above which a burst keeps to the steady share.
    max_busy = 0.5

    def __init__(self, steady: int, burst: int) -> None:
        self.steady = steady
        self.burst = burst
        self._watch = CpuWatch()

    def pick(self, *, burst: bool) -> int:
        """Threads for the next run; looks at the CPU every time so its window stays short."""
        quiet = self._watch.others_busy() <= self.max_busy
        return self.burst if burst and quiet else self.steady


class Cores:
    """Which engines of this process compute at this moment (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: Counter[object] = Counter()

    @contextlib.contextmanager
    def running(self, engine: object) -> Iterator[None]:
        """``engine`` computes for the duration of the block."""
        with self._lock:
            self._running[engine] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[engine] -= 1
                if not self._running[engine]:
                    del self._running[engine]

    def alone(self, engine: object) -> bool:
        """Whether no engine but ``engine`` computes now."""
        with self._lock:
            return all(e is engine for e in self._running)


#: The process's engines (one set of cores per process).
CORES = Cores()

_CLK_TCK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
