"""Audio in: PCM16 validation, streaming resampling to 16 kHz, fixed-size framing.

Pure and synchronous (no I/O): each class keeps only the state a stream needs and is tested
with lists of arrays.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np
import soxr

from luminad.errors import BadMessage, FrameTooLarge
from luminad.protocol import MAX_FRAME_BYTES, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from luminad.providers.base import STT_SAMPLE_RATE, Pcm16

#: Frame length (ms) handed to the endpointer; webrtcvad accepts 10, 20 or 30.
FRAME_MS = 20


def check_sample_rate(rate: int) -> int:
    """``rate`` if it is a supported input rate (8-96 kHz), else :class:`BadMessage`."""
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise BadMessage(f"sample_rate must be an integer, got {rate!r}")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise BadMessage(
            f"sample_rate {rate} Hz is not supported (use {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE})",
            action="Send PCM16 mono audio at a rate between 8 and 96 kHz, declared in hello.",
        )
    return rate


def validate_pcm16(data: bytes) -> Pcm16:
    """Decode one binary frame of PCM16LE mono; refuses empty, odd-length and oversized frames."""
    if len(data) > MAX_FRAME_BYTES:
        raise FrameTooLarge(f"audio frame of {len(data)} bytes exceeds {MAX_FRAME_BYTES}")
    if not data:
        raise BadMessage("empty audio frame", action="Send PCM16LE mono samples, 2 bytes each.")
    if len(data) % 2:
        raise BadMessage(
            f"audio frame of {len(data)} bytes is not whole PCM16 samples (odd length)",
            action="Send PCM16LE mono samples, 2 bytes each.",
        )
    return np.frombuffer(data, dtype="<i2").astype(np.int16, copy=False)


def decode_b64_pcm16(text: str) -> bytes:
    """The bytes of a legacy ``audio`` message (base64), validated as PCM16."""
    if len(text) > MAX_FRAME_BYTES * 4 // 3 + 4:
        raise FrameTooLarge(f"audio message exceeds {MAX_FRAME_BYTES} bytes of PCM")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadMessage(f"audio.pcm16_b64 is not valid base64: {exc}") from None
    validate_pcm16(data)
    return data


class Resampler:
    """Streaming resampler (soxr) from ``in_rate`` to ``out_rate`` for int16 mono audio.

    ``process`` may return fewer samples than a whole ratio while the filter fills; ``flush``
    drains the tail at the end of a stream. Same rates pass audio through untouched.
    """

    def __init__(self, in_rate: int, out_rate: int = STT_SAMPLE_RATE) -> None:
        self.in_rate = check_sample_rate(in_rate)
        self.out_rate = out_rate
        self._stream: soxr.ResampleStream | None = None
        if in_rate != out_rate:
            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality="HQ")

    def process(self, pcm: Pcm16) -> Pcm16:
        if self._stream is None:
            return pcm
        if pcm.size == 0:
            return np.zeros(0, dtype=np.int16)
        out = self._stream.resample_chunk(np.ascontiguousarray(pcm, dtype=np.int16))
        return np.asarray(out, dtype=np.int16).reshape(-1)

    def flush(self) -> Pcm16:
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        out = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        tail = np.asarray(out, dtype=np.int16).reshape(-1)
        self._stream = soxr.ResampleStream(
            self.in_rate, self.out_rate, 1, dtype="int16", quality="HQ"
        )
        return tail


class Framer:
    """Cuts a stream of samples into frames of exactly ``frame_samples`` (keeps the rest)."""

    def __init__(self, frame_samples: int = STT_SAMPLE_RATE * FRAME_MS // 1000) -> None:
        if frame_samples <= 0:
            raise ValueError("frame_samples must be positive")
        self.frame_samples = frame_samples
        self._rest = np.zeros(0, dtype=np.int16)

    def add(self, pcm: Pcm16) -> list[Pcm16]:
        buf = np.concatenate([self._rest, pcm.astype(np.int16, copy=False)])
        n = len(buf) // self.frame_samples
        frames = [
            buf[i * self.frame_samples : (i + 1) * self.frame_samples].copy() for i in range(n)
        ]
        self._rest = buf[n * self.frame_samples :].copy()
        return frames

    def finish(self) -> list[Pcm16]:
        """The remainder, zero-padded to one whole frame (or nothing)."""
        if self._rest.size == 0:
            return []
        frame = np.zeros(self.frame_samples, dtype=np.int16)
        frame[: self._rest.size] = self._rest
        self._rest = np.zeros(0, dtype=np.int16)
        return [frame]


def rms(pcm: Pcm16) -> float:
    """Root-mean-square level of int16 samples (0..32768)."""
    if pcm.size == 0:
        return 0.0
    x = pcm.astype(np.float64)
    return float(np.sqrt(np.mean(x * x)))


def duration_ms(samples: int, rate: int = STT_SAMPLE_RATE) -> float:
    return samples * 1000.0 / rate
