"""Keeping llama.cpp's evaluated prompt when the history window moves on.

llama.cpp reuses the longest common prefix of the cached tokens and the new prompt, so a
prompt that only grows at its end costs only its new tokens. When the history window steps
(``projections.conversations.history_turns`` drops its oldest turns) the prompt differs right
after the system prompt, and the whole history behind it used to be evaluated again: ~300 tokens,
3.4-5.5 s of Qwen 0.5B on two cores (measured here), in one reply every five turns.

:class:`PromptReuse` renders the new prompt with the GGUF's own chat template (llama-cpp-python's
:class:`~llama_cpp.llama_chat_format.Jinja2ChatFormatter`, as the chat completion does) and, when
it is the cached prompt with a stretch cut out, cuts that stretch out of the KV cache and shifts
what follows into its place (``llama_memory_seq_rm`` / ``llama_memory_seq_add``: the RoPE
positions move, the keys and values are kept, as llama.cpp's own context shift does). Only the
tokens after the reused stretch are then evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: A stretch shorter than this (tokens) is cheaper to evaluate again than to shift.
MIN_REUSED = 32


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(diff[0]) if diff.size else n


class PromptReuse:
    """Shifts a :class:`llama_cpp.Llama`'s KV cache to the next prompt (module docstring).
    Call :meth:`prepare` under the model's lock, right before the request."""

    def __init__(self, llama: Any) -> None:
        from llama_cpp import llama_cpp as lib
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llama = llama
        self._lib = lib
        template = llama.metadata.get("tokenizer.chat_template")
        self._formatter: Any = None
        if template:
            eos, bos = llama.token_eos(), llama.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
                bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
                stop_token_ids=[eos],
            )
        #: Tokens kept by shifting instead of being evaluated again (all requests).
        self.reused = 0

    def tokens(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
    ) -> list[int]:
        """The prompt's tokens, as the chat completion will feed them to the model."""
        result = self._formatter(messages=list(messages), tools=list(tools) or None)
        tokens: list[int] = self._llama.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        return tokens

    def prepare(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] = ()
    ) -> int:
        """Before a request: when the cached prompt holds a long stretch of the new prompt's
        tokens after their common prefix, drop what lies between and shift the stretch up to
        the prefix. Returns the tokens kept that way (0: the cache is left as it was)."""
        llama = self._llama
        memory = llama._ctx.memory
        if self._formatter is None or llama.n_tokens == 0 or memory is None:
            return 0
        if not self._lib.llama_memory_can_shift(memory):
            return 0
        new = self.tokens(messages, tools)
        cached = [int(t) for t in llama._input_ids]
        a = common_prefix(cached, new)
        if a >= len(new) or a + 1 >= len(cached):
            return 0
        best_b, best_m = 0, 0
        for b in (np.flatnonzero(np.asarray(cached[a + 1 :]) == new[a]) + a + 1).tolist():
            m = common_prefix(cached[b:], new[a:])
            if m > best_m:
                best_b, best_m = b, m
        if best_m < MIN_REUSED:
            return 0
        ctx = llama._ctx
        if not ctx.kv_cache_seq_rm(0, a, best_b):
            return 0
        ctx.kv_cache_seq_shift(0, best_b, -1, a - best_b)
        keep = a + best_m
        ctx.kv_cache_seq_rm(0, keep, -1)
        llama.input_ids[:keep] = cached[:a] + cached[best_b : best_b + best_m]
        llama.n_tokens = keep
        llama._requires_eval = True  # the logits are not those of the last kept token
        self.reused += best_m
        return best_m
