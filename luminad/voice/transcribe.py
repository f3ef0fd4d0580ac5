"""The transcribe stage: sliding-window partials while the user speaks, and the final pass.

A partial pass starts every ``interval_s`` on the last ``window_s`` of the utterance (greedy);
when one takes longer, the ticks it overlaps are skipped (the next starts as soon as it is
done), so the stream keeps up in real time on two cores. Engine failures become
:class:`~luminad.errors.SttUnavailable`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from luminad import protocol
from luminad.errors import LuminaError, SttUnavailable
from luminad.providers.base import STT_SAMPLE_RATE, Pcm16, SpeechToText
from luminad.voice.turn import Outlet, now


async def transcribe(stt: SpeechToText, audio: Pcm16, *, partial: bool) -> str:
    try:
        text = await stt.transcribe(audio, partial=partial)
    except (asyncio.CancelledError, LuminaError):
        raise
    except Exception as exc:
        raise SttUnavailable(f"speech recognition failed: {exc}") from exc
    return " ".join(text.split())


async def partials(
    stt: SpeechToText,
    turn_id: str,
    utterance: Callable[[], Pcm16],
    paused: Callable[[], bool],
    out: Outlet,
    *,
    interval_s: float,
    window_s: float,
) -> None:
    """Send ``partial_transcript`` at a fixed cadence until cancelled (errors: the final pass
    reports them)."""
    next_start = now() + interval_s
    while True:
        await asyncio.sleep(max(0.0, next_start - now()))
        next_start = max(next_start + interval_s, now())
        if paused():
            continue  # the user is pausing: leave the CPU to the speculative final pass
        window = utterance()[-int(window_s * STT_SAMPLE_RATE) :]
        if len(window) < STT_SAMPLE_RATE // 4:
            continue
        try:
            text = await transcribe(stt, window, partial=True)
        except LuminaError:
            continue
        if text:  # every pass, changed or not: the client sees that it keeps up
            await out.emit(protocol.PartialTranscript(turn_id=turn_id, text=text))
