"""The transcribe stage: sliding-window partials while the user speaks, and the final pass.

A partial pass starts every ``interval_s`` on the last ``window_s`` of the utterance (greedy;
longer utterances are shown whole by stitching each window onto the previous partial);
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

#: While the user is silent, how often the partial loop looks whether speech resumed (s).
RECHECK_S = 0.04


def _norm(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalnum())


def stitch(previous: str, window_text: str) -> str:
    """Join the partial of a sliding window onto the previous partial of the same utterance.

    The window has dropped the utterance's start, so its text begins somewhere inside the
    previous text: find where (an anchor of 1-3 words, allowing the window's first two words to
    be garbled where the audio was cut) and keep what came before. Without an anchor the window
    text follows an ellipsis (a one- or two-word pass is taken for a garbled one and dropped).
    """
    prev, new = previous.split(), window_text.split()
    if not prev or not new:
        return window_text
    prev_n, new_n = [_norm(w) for w in prev], [_norm(w) for w in new]
    for k in (3, 2, 1):
        for skip in (0, 1, 2):
            anchor = new_n[skip : skip + k]
            if len(anchor) < k or not all(anchor):
                continue
            for i in range(len(prev_n) - k, -1, -1):
                if prev_n[i : i + k] == anchor:
                    return " ".join(prev[:i] + new[skip:])
    if len(new) <= 2:  # a garbled pass over a window cut mid-word: keep what was shown
        return previous
    return f"{previous} … {window_text}"


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
    reports them). No pass starts while ``paused()`` (the user went silent)."""
    next_start = now() + interval_s
    shown = ""
    window_samples = int(window_s * STT_SAMPLE_RATE)
    while True:
        await asyncio.sleep(max(0.0, next_start - now()))
        next_start = max(next_start + interval_s, now())
        if paused():
            # the user may be done: leave whisper free for the final pass (a pass started now
            # would hold it ~150 ms, its encoder cannot be aborted); look again soon
            next_start = now() + min(interval_s, RECHECK_S)
            continue
        audio = utterance()
        window = audio[-window_samples:]
        if len(window) < STT_SAMPLE_RATE // 4:
            continue
        try:
            text = await transcribe(stt, window, partial=True)
        except LuminaError:
            continue
        if not text:
            continue
        shown = stitch(shown, text) if len(audio) > window_samples else text
        # every pass, changed or not: the client sees that it keeps up
        await out.emit(protocol.PartialTranscript(turn_id=turn_id, text=shown))
