from __future__ import annotations

import base64

import numpy as np
import pytest

from luminad.errors import BadMessage, FrameTooLarge
from luminad.voice.audio import (
    Framer,
    Resampler,
    check_sample_rate,
    decode_b64_pcm16,
    rms,
    validate_pcm16,
)


def tone(freq: float, rate: int, seconds: float, amp: float = 8000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def test_validate_pcm16_accepts_whole_samples() -> None:
    pcm = validate_pcm16(np.array([1, -2, 3], dtype="<i2").tobytes())
    assert pcm.tolist() == [1, -2, 3]


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x01\x02\x03"])
def test_validate_pcm16_refuses_empty_and_odd(data: bytes) -> None:
    with pytest.raises(BadMessage) as e:
        validate_pcm16(data)
    assert e.value.code == "bad_message"


def test_validate_pcm16_refuses_oversize() -> None:
    with pytest.raises(FrameTooLarge) as e:
        validate_pcm16(b"\0" * (64 * 1024 + 2))
    assert e.value.code == "frame_too_large"


@pytest.mark.parametrize("rate", [7999, 96001, 0, -16000])
def test_check_sample_rate_refuses(rate: int) -> None:
    with pytest.raises(BadMessage):
        check_sample_rate(rate)


def test_b64() -> None:
    raw = np.array([5, 6], dtype="<i2").tobytes()
    assert decode_b64_pcm16(base64.b64encode(raw).decode()) == raw
    with pytest.raises(BadMessage):
        decode_b64_pcm16("@@not base64@@")
    with pytest.raises(BadMessage):
        decode_b64_pcm16(base64.b64encode(b"\x01\x02\x03").decode())


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000, 96000])
def test_resampler_streams_to_16k(rate: int) -> None:
    src = tone(440, rate, 1.0)
    r = Resampler(rate)
    out = [r.process(src[i : i + 480]) for i in range(0, len(src), 480)]
    out.append(r.flush())
    y = np.concatenate(out)
    assert abs(len(y) - 16000) <= 20
    # the tone survives: dominant frequency ~440 Hz
    spec = np.abs(np.fft.rfft(y.astype(np.float64)))
    peak_hz = np.argmax(spec) * 16000 / len(y)
    assert abs(peak_hz - 440) < 5
    assert 0.6 * 8000 / np.sqrt(2) < rms(y[2000:-2000]) < 1.2 * 8000 / np.sqrt(2)


def test_resampler_matches_one_shot() -> None:
    src = tone(300, 48000, 0.5)
    r = Resampler(48000)
    chunks = [r.process(src[i : i + 333]) for i in range(0, len(src), 333)]
    y = np.concatenate([*chunks, r.flush()])
    r2 = Resampler(48000)
    y2 = np.concatenate([r2.process(src), r2.flush()])
    assert len(y) == len(y2)
    assert np.max(np.abs(y.astype(int) - y2.astype(int))) <= 2


def test_framer_cuts_exact_frames_and_keeps_rest() -> None:
    f = Framer(320)
    frames = f.add(np.arange(700, dtype=np.int16))
    assert [len(x) for x in frames] == [320, 320]
    assert frames[1][0] == 320
    frames = f.add(np.arange(700, 1000, dtype=np.int16))
    assert len(frames) == 1 and frames[0][0] == 640
    tail = f.finish()
    assert len(tail) == 1 and tail[0][0] == 960 and tail[0][-1] == 0
    assert f.finish() == []
