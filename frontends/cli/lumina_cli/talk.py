"""``lumina talk``: speak to Lumina from the terminal.

Audio goes up as PCM16 binary frames at the source's own rate (the daemon resamples and
endpoints); the reply comes back as ``tts_chunk`` headers with binary PCM frames, played through
sounddevice or written with ``--out``. Partial transcripts are shown live, and a timing line
after each turn.

* ``lumina talk``: the default microphone (sounddevice); Ctrl-C leaves. Speaking while Lumina
  talks interrupts her (the daemon hears it and cancels the reply).
* ``lumina talk --wav question.wav``: stream a recording at real-time pace (one turn), then
  wait for the reply. ``--out reply.wav`` writes the reply instead of playing it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import queue
import sys
import threading
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
from rich.text import Text

from lumina_cli.chat import INTERNET_ON
from lumina_cli.client import SessionClient, open_session
from lumina_cli.output import ReplyLine, timer_line, tool_line
from lumina_cli.registry import Context, command
from luminad import protocol

FRAME_MS = 20
#: Silence streamed after a recording so the daemon's endpointer can close the turn (s).
TRAILING_SILENCE_S = 1.2
NO_MIC = (
    "No microphone found (sounddevice lists no input device). "
    "Stream a recording instead: `lumina talk --wav question.wav`."
)


def default_device(kind: str) -> str | None:
    """The name of the default audio ``kind`` ("input" or "output") device; None when none."""
    try:
        import sounddevice as sd

        device = sd.query_devices(kind=kind)
    except Exception:  # no PortAudio, no device, no permission: all the same to the user
        return None
    return str(device.get("name") or kind) if isinstance(device, dict) else kind


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wav", type=Path, help="stream this 16-bit WAV file (real-time pace)")
    p.add_argument("--out", type=Path, help="write the reply audio to this WAV instead of playing")
    p.add_argument("--conversation", help="resume this conversation id")
    p.add_argument("--avatar", help="talk to this avatar id")
    p.add_argument("--voice", help="speak with this Piper voice")
    p.add_argument("--no-tts", action="store_true", help="text replies only")
    p.add_argument(
        "--internet",
        action="store_true",
        help="switch internet mode on: Lumina may search the web (every request is logged)",
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for a reply (--wav)"
    )


def read_wav(path: Path) -> tuple[bytes, int]:
    """PCM16 mono bytes and rate of a WAV (stereo is mixed down)."""
    with wave.open(str(path), "rb") as wf:
        if wf.getsampwidth() != 2:
            raise SystemExit(f"{path}: only 16-bit PCM WAV files are supported")
        rate, channels = wf.getframerate(), wf.getnchannels()
        data = np.frombuffer(wf.readframes(wf.getnframes()), dtype="<i2")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).astype("<i2")
    return data.tobytes(), rate


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(pcm)


class Player:
    """Plays PCM16 frames through sounddevice in a thread; ``stop()`` drops what is queued."""

    def __init__(self) -> None:
        self._q: queue.Queue[tuple[bytes, int] | None] = queue.Queue()
        self._flush = threading.Event()
        self.available = True
        self.error = ""
        self._thread = threading.Thread(target=self._run, name="lumina-player", daemon=True)
        self._thread.start()

    def play(self, pcm: bytes, rate: int) -> None:
        self._flush.clear()
        self._q.put((pcm, rate))

    def stop(self) -> None:
        """Barge-in: drop queued audio."""
        self._flush.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._q.get_nowait()

    def close(self) -> None:
        self._q.put(None)

    def _run(self) -> None:
        try:
            import sounddevice as sd
        except Exception as exc:  # PortAudio missing
            self.available, self.error = False, str(exc)
            return
        stream: Any = None
        rate = 0
        while True:
            item = self._q.get()
            if item is None:
                break
            pcm, r = item
            if self._flush.is_set():
                continue
            try:
                if stream is None or r != rate:
                    if stream is not None:
                        stream.close()
                    stream = sd.RawOutputStream(samplerate=r, channels=1, dtype="int16")
                    stream.start()
                    rate = r
                step = r // 10 * 2  # write 100 ms at a time so stop() is quick
                for i in range(0, len(pcm), step):
                    if self._flush.is_set():
                        break
                    stream.write(pcm[i : i + step])
            except Exception as exc:  # no output device
                self.available, self.error = False, str(exc)
                return
        if stream is not None:
            stream.close()


class Turns:
    """Receives daemon messages: shows partials, the reply and timings; collects reply audio."""

    def __init__(self, ctx: Context, args: argparse.Namespace, player: Player | None) -> None:
        self.ctx = ctx
        self.args = args
        self.player = player
        self.audio = bytearray()
        self.rate = 0
        self.done = asyncio.Event()
        self.turns = 0
        self.name = "Lumina"
        self._header: protocol.TtsChunk | None = None
        self._partial_shown = False
        self._line = ReplyLine(ctx)

    def _clear_partial(self) -> None:
        if self._partial_shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self._partial_shown = False

    def on(self, message: protocol.ServerMessage | bytes) -> None:
        c = self.ctx.console
        if isinstance(message, bytes):
            if self._header is None:
                return
            self.rate = self._header.sample_rate
            self.audio += message
            if self.player is not None:
                self.player.play(message, self.rate)
            self._header = None
            return
        match message:
            case protocol.PartialTranscript(text=text):
                # a live line that rewrites itself: on a terminal only (no ANSI codes in a pipe)
                if self.ctx.err.is_terminal:
                    sys.stderr.write("\r\033[K\033[2m… " + text[-150:] + "\033[0m")
                    sys.stderr.flush()
                    self._partial_shown = True
            case protocol.FinalTranscript(text=text):
                self._clear_partial()
                if text:
                    c.print(f"[bold cyan]you:[/bold cyan] {text}", highlight=False)
                else:  # nothing intelligible: no reply will come
                    self.ctx.err.print("[dim](no speech recognised)[/dim]")
                    self.done.set()
            case protocol.AssistantDelta(text=delta):
                if not self._line.open:
                    self._clear_partial()
                self._line.write(f"[bold magenta]{self.name}:[/bold magenta] ", delta)
            case protocol.TtsChunk():
                self._header = message
            case protocol.AssistantDone():
                self._line.end()
            case protocol.TurnTiming():
                self.ctx.err.print(f"[dim]{timing_line(message)}[/dim]")
                self.turns += 1
                self.done.set()
            case protocol.Cancelled(heard_text=heard):
                if self.player is not None:
                    self.player.stop()
                self._line.end(" [dim](interrupted)[/dim]")
                self.ctx.err.print(f"[dim]cancelled; heard: {heard!r}[/dim]")
                self.done.set()
            case protocol.MemoryWritten(text=text):
                self._line.notice(Text(f"(remembered: {text})", style="dim"))
            case protocol.ToolCall():
                self._clear_partial()
                self._line.notice(tool_line(message))
            case protocol.TimerChanged():
                self._clear_partial()
                self._line.notice(timer_line(message))
            case protocol.Error(code=code, message=msg, action=action):
                self._clear_partial()
                self.ctx.err.print(
                    f"[red]error {code}:[/red] {msg}" + (f" — {action}" if action else "")
                )
                if code in {"stt_unavailable", "llm_unavailable"}:
                    self.done.set()
            case _:
                pass


def timing_line(t: protocol.TurnTiming) -> str:
    parts = [
        ("endpoint", t.endpoint_ms),
        ("stt", t.stt_ms),
        ("llm first token", t.llm_first_token_ms),
        ("first sentence", t.first_sentence_ms),
        ("tts first audio", t.tts_first_audio_ms),
        ("voice-to-voice", t.voice_to_voice_ms),
        ("total", t.total_ms),
    ]
    return "timing: " + " · ".join(f"{k} {v:.0f} ms" for k, v in parts if v is not None)


async def _receive(session: SessionClient, turns: Turns) -> None:
    while True:
        turns.on(await session.receive())


async def _wav_frames(pcm: bytes, rate: int) -> AsyncIterator[bytes]:
    """20 ms frames of ``pcm`` then trailing silence, at real-time pace (no drift)."""
    step = rate * FRAME_MS // 1000 * 2
    silence = bytes(int(rate * TRAILING_SILENCE_S) * 2)
    data = pcm + silence
    start = time.monotonic()
    for n, i in enumerate(range(0, len(data), step)):
        yield data[i : i + step]
        delay = start + (n + 1) * FRAME_MS / 1000 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


async def talk_wav(session: SessionClient, turns: Turns, path: Path, wait_s: float) -> int:
    pcm, rate = read_wav(path)
    await _hello(session, turns, rate)
    receiver = asyncio.create_task(_receive(session, turns))
    try:
        async for frame in _wav_frames(pcm, rate):
            await session.send_audio(frame)
        await session.send(protocol.End())
        try:
            await asyncio.wait_for(turns.done.wait(), wait_s)
        except TimeoutError:
            turns.ctx.err.print("[red]no reply in time[/red]")
            return 1
        # let the last audio frames arrive
        await asyncio.sleep(0.3)
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
    return 0 if turns.turns else 1


async def talk_mic(session: SessionClient, turns: Turns) -> int:
    import sounddevice as sd

    try:
        device = sd.query_devices(kind="input")
    except Exception:
        turns.ctx.err.print(NO_MIC)
        return 2
    rate = int(device.get("default_samplerate") or 16000) if isinstance(device, dict) else 16000
    await _hello(session, turns, rate)
    loop = asyncio.get_running_loop()
    frames: asyncio.Queue[bytes] = asyncio.Queue(maxsize=200)

    def put(data: bytes) -> None:
        if not frames.full():  # a stalled connection drops microphone audio, not the UI
            frames.put_nowait(data)

    def callback(indata: Any, n: int, t: Any, status: Any) -> None:
        loop.call_soon_threadsafe(put, bytes(indata))

    try:
        stream = sd.RawInputStream(
            samplerate=rate,
            channels=1,
            dtype="int16",
            blocksize=rate * FRAME_MS // 1000,
            callback=callback,
        )
    except Exception as exc:
        turns.ctx.err.print(f"{NO_MIC} ({exc})")
        return 2
    receiver = asyncio.create_task(_receive(session, turns))
    turns.ctx.err.print("[dim]listening… speak; Ctrl-C to leave[/dim]")
    try:
        with stream:
            while True:
                await session.send_audio(await frames.get())
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver


async def _hello(session: SessionClient, turns: Turns, rate: int) -> None:
    args = turns.args
    ready = await session.hello(
        sample_rate=rate,
        conversation_id=args.conversation,
        avatar_id=args.avatar,
        voice=args.voice,
        tts=not args.no_tts,
    )
    turns.name = ready.avatar.name
    turns.ctx.err.print(f"[dim]conversation {ready.conversation_id} with {ready.avatar.name}[/dim]")
    if args.internet:
        await session.set_internet(True)
        turns.ctx.err.print(INTERNET_ON)


async def _talk(args: argparse.Namespace, ctx: Context) -> int:
    player: Player | None = None
    if args.out is None and not args.no_tts:
        player = Player()
    turns = Turns(ctx, args, player)
    try:
        async with open_session(ctx.settings) as session:
            if args.wav is not None:
                code = await talk_wav(session, turns, args.wav, args.timeout)
            else:
                code = await talk_mic(session, turns)
    finally:
        if player is not None:
            player.close()
    if args.out is not None:
        if turns.audio:
            write_wav(args.out, bytes(turns.audio), turns.rate)
            ctx.err.print(
                f"[dim]reply audio: {args.out} ({len(turns.audio) / 2 / turns.rate:.1f} s)[/dim]"
            )
        else:
            ctx.err.print("[yellow]no reply audio was received[/yellow]")
    elif player is not None and not player.available:
        ctx.err.print(
            f"[yellow]could not play the reply ({player.error}); use --out reply.wav[/yellow]"
        )
    return code


@command("talk", "speak to Lumina (microphone, or --wav FILE)", _args)
def talk(args: argparse.Namespace, ctx: Context) -> int:
    if args.wav is None and default_device("input") is None:
        ctx.err.print(NO_MIC)
        return 2
    try:
        return asyncio.run(_talk(args, ctx))
    except KeyboardInterrupt:
        return 0
