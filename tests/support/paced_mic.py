"""A microphone for ``wyoming-satellite --mic-command``: raw PCM16LE mono on stdout, in real time.

``python paced_mic.py speech.wav go_file``: silence until ``go_file`` exists, then the WAV's
samples (mono 16-bit at the WAV's rate), then silence until killed, all at the pace a real
microphone delivers (20 ms blocks), so the satellite streams as it would from a room.
"""

from __future__ import annotations

import sys
import time
import wave
from pathlib import Path

BLOCK_S = 0.02


def main(path: str, go_file: str) -> None:
    with wave.open(path, "rb") as wf:
        rate = wf.getframerate()
        speech = wf.readframes(wf.getnframes())
    block = int(rate * BLOCK_S) * 2
    silence = bytes(block)
    go = Path(go_file)
    out = sys.stdout.buffer
    start = time.monotonic()
    sent = spoken = 0
    while True:
        piece = silence
        if spoken < len(speech) and go.exists():
            piece = speech[spoken : spoken + block].ljust(block, b"\0")
            spoken += block
        out.write(piece)
        out.flush()
        sent += 1
        ahead = start + sent * BLOCK_S - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
