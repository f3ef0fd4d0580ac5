from __future__ import annotations

from luminad.providers.base import AudioChunk
from luminad.voice.speak import split_frames


def test_split_frames_shares_words_by_time_and_keeps_all_audio() -> None:
    pcm = bytes(range(256)) * (22050 * 2 * 2 // 256)  # ~2 s at 22.05 kHz
    chunk = AudioChunk(pcm=pcm, sample_rate=22050, text="one two three four five six seven")
    frames = split_frames(chunk, 0.5)
    assert b"".join(p for p, _ in frames) == pcm[: len(pcm) - len(pcm) % 2]
    assert all(len(p) <= 22050 for p, _ in frames)
    assert " ".join(w for _, w in frames if w) == chunk.text
    assert len(frames) == 4


def test_split_frames_short_chunk_is_one_frame() -> None:
    chunk = AudioChunk(pcm=b"\0\0" * 100, sample_rate=16000, text="hi")
    assert split_frames(chunk, 0.5) == [(b"\0\0" * 100, "hi")]
