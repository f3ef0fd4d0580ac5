"""Synthetic speech for tests: espeak-ng WAVs resampled to 16 kHz, WAV reading, WER.

Reusable by every test suite::

    from tests.support.speech import speak_to_wav, read_wav_pcm16, speak_pcm16, wer
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

from luminad.providers.wer import wer

__all__ = ["read_wav_pcm16", "speak_pcm16", "speak_to_wav", "wer", "write_wav_pcm16"]

STT_RATE = 16000


def read_wav_pcm16(path: Path | str) -> tuple[npt.NDArray[np.int16], int]:
    """Mono PCM16 samples and the sample rate of a 16-bit WAV (stereo is mixed down)."""
    with wave.open(str(path), "rb") as wf:
        if wf.getsampwidth() != 2:
            raise ValueError(f"{path}: not 16-bit PCM")
        rate = wf.getframerate()
        channels = wf.getnchannels()
        data = np.frombuffer(wf.readframes(wf.getnframes()), dtype="<i2")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return data.astype(np.int16), rate


def write_wav_pcm16(path: Path | str, pcm: npt.NDArray[np.int16] | bytes, rate: int) -> Path:
    """Write mono PCM16 to a WAV file."""
    raw = pcm if isinstance(pcm, bytes) else np.asarray(pcm, dtype="<i2").tobytes()
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(raw)
    return Path(path)


def speak_to_wav(
    text: str, path: Path | str, *, rate: int = STT_RATE, wpm: int = 140, voice: str = "en"
) -> Path:
    """Speak ``text`` with espeak-ng into a mono PCM16 WAV at ``rate`` Hz (default 16 kHz)."""
    exe = shutil.which("espeak-ng")
    if exe is None:  # pragma: no cover - the test machine has it (apt: espeak-ng)
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    path = Path(path)
    raw = path.with_suffix(".espeak.wav")
    subprocess.run([exe, "-v", voice, "-s", str(wpm), "-w", str(raw), text], check=True)
    pcm, src_rate = read_wav_pcm16(raw)
    raw.unlink(missing_ok=True)
    if src_rate != rate:
        pcm = resample_pcm16(pcm, src_rate, rate)
    return write_wav_pcm16(path, pcm, rate)


def resample_pcm16(pcm: npt.NDArray[np.int16], src: int, dst: int) -> npt.NDArray[np.int16]:
    out = soxr.resample(pcm.astype(np.float32) / 32768.0, src, dst)
    return np.asarray(np.clip(out * 32768.0, -32768, 32767), dtype=np.int16)


def speak_pcm16(
    text: str, tmp_dir: Path | str, *, rate: int = STT_RATE, wpm: int = 140
) -> npt.NDArray[np.int16]:
    """espeak-ng speech of ``text`` as PCM16 samples at ``rate`` (via a temporary WAV)."""
    safe = "".join(c if c.isalnum() else "_" for c in text)[:40] or "speech"
    pcm, _ = read_wav_pcm16(speak_to_wav(text, Path(tmp_dir) / f"{safe}.wav", rate=rate, wpm=wpm))
    return pcm
