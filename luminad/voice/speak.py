"""The speaker: sentences -> TTS -> ``tts_chunk`` header + binary PCM frame, paced.

:class:`Speaker` owns the text-to-speech engine of a session. Audio is cut into frames of at
most ``frame_s`` (the sentence's words shared out by time, so ``heard_text`` is accurate to a
frame) and paced at most ``lead_s`` ahead of real time: audio not yet sent is what a cancel
drops. A TTS failure is reported once; the reply goes on as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from luminad import protocol
from luminad.errors import LuminaError, TtsUnavailable
from luminad.providers.base import AudioChunk, TextToSpeech
from luminad.voice.outlet import Outlet
from luminad.voice.tuning import Tuning
from luminad.voice.turn import Turn, heard, now

log = logging.getLogger("luminad.voice")


def split_frames(chunk: AudioChunk, frame_s: float) -> list[tuple[bytes, str]]:
    """Cut a sentence's audio into frames of at most ``frame_s``, sharing out its words by time."""
    bytes_per_frame = max(2, int(chunk.sample_rate * frame_s) * 2)
    pcm = chunk.pcm[: len(chunk.pcm) - len(chunk.pcm) % 2]
    pieces = [pcm[i : i + bytes_per_frame] for i in range(0, len(pcm), bytes_per_frame)] or [b""]
    words = chunk.text.split()
    if len(pieces) == 1:
        return [(pieces[0], chunk.text)]
    out: list[tuple[bytes, str]] = []
    total = len(pcm)
    done_bytes = 0
    taken = 0
    for i, piece in enumerate(pieces):
        done_bytes += len(piece)
        upto = len(words) if i == len(pieces) - 1 else round(len(words) * done_bytes / total)
        out.append((piece, " ".join(words[taken:upto])))
        taken = max(taken, upto)
    return out


async def pace(turn: Turn, lead_s: float) -> None:
    """Keep reply audio at most ``lead_s`` ahead of real time."""
    if turn.t_first_audio_sent is None:
        return
    ahead = turn.audio_sent_s - (now() - turn.t_first_audio_sent)
    if ahead > lead_s:
        await asyncio.sleep(ahead - lead_s)


class Speaker:
    """Speaks a reply's sentences (see the module docstring)."""

    def __init__(self, tts: TextToSpeech, outlet: Outlet, tuning: Tuning) -> None:
        self._tts = tts
        self._outlet = outlet
        self._tuning = tuning

    async def speak(
        self, turn: Turn, sentences: asyncio.Queue[str | None], voice: str | None
    ) -> None:
        """Speak each sentence until the ``None`` that ends the reply."""
        tts, out = self._tts, self._outlet
        lead_s, frame_s = self._tuning.audio_lead_s, self._tuning.tts_frame_s
        seq = 0
        failed = False
        while True:
            sentence = await sentences.get()
            if sentence is None:
                return
            if failed:
                continue
            try:
                synth: Any = tts.synthesize(sentence, voice=voice)
                async with contextlib.aclosing(synth) as chunks:
                    async for chunk in chunks:
                        if turn.t_first_synth is None:
                            turn.t_first_synth = now()
                        for pcm, words in split_frames(chunk, frame_s):
                            await pace(turn, lead_s)
                            await turn.opened.wait()
                            header = protocol.TtsChunk(
                                turn_id=turn.id, seq=seq, sample_rate=chunk.sample_rate, text=words
                            )
                            seq += 1
                            seconds = len(pcm) / 2 / chunk.sample_rate
                            await out.emit(
                                header, pcm, on_sent=functools.partial(heard, turn, words, seconds)
                            )
            except LuminaError as exc:
                failed = True
                turn.outcome = "failed"
                await turn.opened.wait()
                await out.error(exc, turn)
            except Exception as exc:
                failed = True
                turn.outcome = "failed"
                log.exception("turn %s: speech synthesis failed", turn.id)
                await turn.opened.wait()
                await out.error(TtsUnavailable(f"speech synthesis failed: {exc}"), turn)
