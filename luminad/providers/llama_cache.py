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

The prompt can also lose a note: what the assistant knows for a turn goes in front of the user's
words that turn only (:mod:`luminad.agent.prompts`), so the next prompt has those words and the
reply without it. That is one more stretch cut out of the cache, and with a window step in the
same turn, two: :func:`stretches` finds them in order, each the longest run of the cached
tokens that continues the new prompt, and each is shifted into place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: A stretch shorter than this (tokens) is not worth a shift. A shift costs about what a few
#: tokens' evaluation does: measured here (Qwen 0.5B, two threads), 345 cached tokens shifted
#: past a cut added 0-90 ms to a prompt whose new tokens took 15-23 ms each.
MIN_REUSED = 8


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(diff[0]) if diff.size else n


def stretches(cached: Sequence[int], new: Sequence[int], start: int) -> list[tuple[int, int]]:
    """Runs of ``cached`` that continue ``new`` after its first ``start`` tokens, in order, each
    as (where it starts in ``cached``, its length): the first continues ``new[start:]``, the
    next what follows it, and so on, each starting later in ``cached`` than the one before
    ended; each the longest there is, and at least :data:`MIN_REUSED` long."""
    found: list[tuple[int, int]] = []
    at, after = start, start  # the next token of ``new`` to find, and where ``cached`` is free
    tokens = np.asarray(cached)
    while at < len(new):
        best_b, best_m = 0, 0
        for b in (np.flatnonzero(tokens[after + 1 :] == new[at]) + after + 1).tolist():
            m = common_prefix(cached[b:], new[at:])
            if m > best_m:
                best_b, best_m = b, m
        if best_m < MIN_REUSED:
            break
        found.append((best_b, best_m))
        at, after = at + best_m, best_b + best_m
    return found


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
        """Before a request: when the cached prompt holds stretches of the new prompt's tokens
        after their common prefix (:func:`stretches`), drop what lies between and shift each
        stretch up to where the new prompt has it. Returns the tokens kept that way (0: the
        cache is left as it was)."""
        llama = self._llama
        memory = llama._ctx.memory
        if self._formatter is None or llama.n_tokens == 0 or memory is None:
            return 0
        if not self._lib.llama_memory_can_shift(memory):
            return 0
        new = self.tokens(messages, tools)
        cached = [int(t) for t in llama._input_ids]
        prefix = keep = common_prefix(cached, new)
        if keep >= len(new) or keep + 1 >= len(cached):
            return 0
        ctx = llama._ctx
        ids = cached[:keep]
        moved = 0  # how far the cells after the last stretch moved so far (<= 0)
        for b, m in stretches(cached, new, keep):
            # cached[b] sits at position b + moved: drop what lies before it, move it to keep
            if not ctx.kv_cache_seq_rm(0, keep, b + moved):
                break
            ctx.kv_cache_seq_shift(0, b + moved, -1, keep - (b + moved))
            moved = keep - b
            ids += cached[b : b + m]
            keep += m
        reused = keep - prefix
        if not reused:
            return 0
        ctx.kv_cache_seq_rm(0, keep, -1)
        llama.input_ids[:keep] = ids
        llama.n_tokens = keep
        llama._requires_eval = True  # the logits are not those of the last kept token
        self.reused += reused
        return reused
