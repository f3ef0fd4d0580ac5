"""The respond stage: the agent's text deltas -> ``assistant_delta`` + sentence chunks.

Deltas go to the client as they arrive (kept in order until the turn opens, when the turn
started speculatively); the :class:`~luminad.voice.chunker.SentenceChunker` hands each ready
chunk to the speak stage over a bounded queue, while the model is still writing. An LLM failure
is answered with ``error`` (``llm_unavailable``); the text so far stays the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from luminad import protocol
from luminad.errors import LlmUnavailable, LuminaError
from luminad.voice.chunker import SentenceChunker
from luminad.voice.turn import Outlet, Turn, now

log = logging.getLogger("luminad.voice")

#: The first chunk goes to TTS after this many words even without punctuation: the first audio
#: waits for the LLM to write it and for TTS to speak it, so it is kept short (later chunks are
#: whole sentences).
FIRST_CHUNK_MAX_WORDS = 6


async def produce(
    turn: Turn,
    stream: AsyncIterator[str],
    sentences: asyncio.Queue[str | None] | None,
    out: Outlet,
) -> None:
    """Consume ``stream``; ends the sentence queue with ``None``."""
    chunker = SentenceChunker(first_max_words=FIRST_CHUNK_MAX_WORDS)
    turn.t_llm_start = now()
    try:
        async with contextlib.aclosing(stream) as deltas:  # type: ignore[type-var]
            async for delta in deltas:
                if not delta:
                    continue
                if turn.t_first_token is None:
                    turn.t_first_token = now()
                turn.reply += delta
                ready = chunker.add(delta)
                if ready and turn.t_first_sentence is None:
                    turn.t_first_sentence = now()
                if sentences is not None:
                    for s in ready:
                        await sentences.put(s)
                await out.turn_emit(turn, protocol.AssistantDelta(turn_id=turn.id, text=delta))
        rest = chunker.finish()
        if rest and turn.t_first_sentence is None:
            turn.t_first_sentence = now()
        if sentences is not None:
            for s in rest:
                await sentences.put(s)
    except LuminaError as exc:
        await turn.opened.wait()
        await out.error(exc, turn)
    except Exception as exc:
        log.exception("turn %s: reply failed", turn.id)
        await turn.opened.wait()
        await out.error(LlmUnavailable(f"the language model failed: {exc}"), turn)
    turn.reply = turn.reply.strip()
    if sentences is not None:
        await sentences.put(None)
