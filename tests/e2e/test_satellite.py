"""A real ``wyoming-satellite`` 1.0.0 (its own virtualenv: it pins ``wyoming==1.4.1``) completes
a spoken turn against the daemon, which drives it as Home Assistant would: the microphone is a
WAV played in real time, the speaker writes raw audio to a file, and that file holds speech whose
transcript answers the question. Then the satellite restarts and the daemon reconnects.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient

from luminad.providers.wer import wer
from tests.support.daemon import Daemon, run_daemon, shared_cache_dir, wait_until
from tests.support.speech import speak_to_wav

pytestmark = pytest.mark.e2e

SATELLITE = "wyoming-satellite==1.0.0"
QUESTION = "What is the capital of France?"
#: The rate of the satellite's --snd-command (its default).
SND_RATE = 22050
PACED_MIC = Path(__file__).resolve().parent.parent / "support" / "paced_mic.py"


def satellite_python() -> Path:
    """The Python of ``wyoming-satellite``'s own virtualenv under the test cache dir, made once
    (run it as ``python -m wyoming_satellite``: 1.0.0's console script names a missing ``run``)."""
    root = shared_cache_dir() / "test-venvs" / "wyoming-satellite-1.0.0"
    exe, done = root / "bin" / "python", root / "installed"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
        subprocess.run([str(root / "bin" / "pip"), "install", "-q", SATELLITE], check=True)
        done.touch()
    return exe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@contextmanager
def satellite(port: int, wav: Path, go: Path, out: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The satellite process (and its mic/snd children, in their own process group)."""
    proc = subprocess.Popen(
        [
            str(satellite_python()),
            "-m",
            "wyoming_satellite",
            "--name",
            "test satellite",
            "--uri",
            f"tcp://127.0.0.1:{port}",
            "--no-zeroconf",
            "--mic-command",
            f"{sys.executable} {PACED_MIC} {wav} {go}",
            "--snd-command",
            f"sh -c 'cat >> {out}'",
            "--snd-command-rate",
            str(SND_RATE),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert wait_until(lambda: _accepts(port), timeout=60), "the satellite did not start"
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


async def _transcribe(daemon: Daemon, pcm: bytes, rate: int) -> str:
    url = urlparse(daemon.ready["wyoming"])
    assert url.hostname and url.port
    async with AsyncTcpClient(url.hostname, url.port) as client:
        await client.write_event(Transcribe().event())
        await client.write_event(AudioStart(rate=rate, width=2, channels=1).event())
        for i in range(0, len(pcm), 4096):
            chunk = AudioChunk(rate=rate, width=2, channels=1, audio=pcm[i : i + 4096])
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        while True:
            event = await asyncio.wait_for(client.read_event(), 120)
            assert event is not None
            if Transcript.is_type(event.type):
                return Transcript.from_event(event).text


def _connected(daemon: Daemon, uri: str) -> int:
    return daemon.log().count(f"satellite {uri}: connected")


def test_satellite_turn_is_answered_through_its_speaker(tmp_path: Path) -> None:
    satellite_python()  # made once, before any timing starts
    port = _free_port()
    uri = f"tcp://127.0.0.1:{port}"
    wav = speak_to_wav(QUESTION, tmp_path / "question.wav")
    go, out = tmp_path / "go", tmp_path / "reply.raw"
    env = {"LUMINA_SATELLITES": uri, "LUMINA_WYOMING": "1", "LUMINA_WYOMING_PORT": "0"}
    with run_daemon(tmp_path / "home", env=env) as daemon:
        with satellite(port, wav, go, out):
            assert wait_until(lambda: _connected(daemon, uri) == 1, timeout=60), daemon.log()
            go.touch()  # the user speaks
            assert wait_until(lambda: out.exists() and out.stat().st_size > 0, timeout=300)
            size = -1
            while size != out.stat().st_size:  # the reply is complete once the file stops growing
                size = out.stat().st_size
                wait_until(lambda: False, timeout=3)
            heard = asyncio.run(_transcribe(daemon, out.read_bytes(), SND_RATE))
            assert "paris" in heard.lower(), heard
            with daemon.unix() as http:
                turns = http.get("/v1/conversations").json()[0]["turns"]
            said = [t["text"] for t in turns if t["role"] == "user"]
            assert len(said) == 1 and wer(QUESTION, said[0]) <= 0.2, said
            assert len(np.frombuffer(out.read_bytes(), dtype="<i2")) / SND_RATE > 0.5
        # the satellite goes away and comes back: the daemon connects again
        with satellite(port, wav, tmp_path / "never", tmp_path / "again.raw"):
            assert wait_until(lambda: _connected(daemon, uri) == 2, timeout=60), daemon.log()
