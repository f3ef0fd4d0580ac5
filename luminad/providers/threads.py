"""How many CPU threads one engine may use.

The voice loop runs STT, the LLM and TTS at the same time, and whisper.cpp, llama.cpp and
onnxruntime all spin-wait in their thread pools: oversubscribed, they slow down tenfold
(measured on 2 cores: whisper tiny.en 0.5 s with 1 thread vs 2-9 s with 2 threads while other
work ran). So each engine gets at most half the cores, and at least one.
"""

from __future__ import annotations

import os


def engine_threads(requested: int) -> int:
    cores = os.cpu_count() or 2
    return max(1, min(requested, cores // 2))
