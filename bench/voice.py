"""Voice benchmark as the user meets it: a client of the running daemon, over the Unix socket.

For each design, ``luminad serve`` is started as a subprocess (as ``tests/support/daemon.py``
does) and driven through the public Unix socket only, like the web page: ONE session, ``--turns``
spoken questions (espeak-ng at its default 175 words per minute, 48 kHz; some long, some
with a 600 ms pause in mid-sentence)
streamed in real-time paced 20 ms frames, silence frames between and after them like a live
microphone, the conversation's history growing turn by turn.

Designs, each with its own daemon and session, taking turns utterance by utterance on the same
utterances in the same run (so the machine's load drifts alike for all), each turn once every
daemon is idle (so one design's background work, the implicit-fact extraction after a turn,
does not fall into another's turn):

* **semantic** (the default): at each pause the smart-turn model and the words judge the end of
  the turn (``LUMINA_END_OF_TURN=smart``);
* **fixed 500 ms**: this code with the previous end of turn: a fixed 500 ms hangover and the
  speculative start at 150 ms of silence (``LUMINA_END_OF_TURN=silence``);
* **previous (bbd628c)**: the daemon the latency issue measured, the code at the end of the first
  wave (its tree from ``git archive``, run with this checkout's interpreter and packages): the
  same fixed hangover and speculative start, with that wave's transcription (whisper in float16)
  and voice loop;
* **semantic at COMMIT** (``--also-at COMMIT``): the semantic design with an earlier commit's
  code, run the same way: an A/B of a code change in one run;
* **limit**: the raw parts of each utterance measured alone right after it, in this process
  while the daemons wait, on the first design's work: the LLM answers that daemon's final
  transcript with that daemon's history, and TTS speaks what that daemon spoke (the words of a
  reply decide how long it takes to write and to speak). The first design's endpoint wait + the
  final STT pass + the LLM's time to its first speakable chunk + TTS of the first chunk; and
  the **naive** sequential loop: a 500 ms hangover + the final STT pass + the whole reply + TTS
  of all of it.

Per design it reports voice-to-voice seen by the client (last voiced sample sent -> first audio
frame received) p50/p95, each stage from ``turn_timing``, the endpoint wait on complete and on
paused utterances, how long after its endpoint each turn's first audio went out (near 0: the
reply was ready, the user waited for the end of turn; more: the user waited for the reply),
premature endpoints (a turn confirmed before the user had finished: its ``final_transcript``
arrived before the utterance's last voiced sample was sent), partial transcripts per second of
speech, and the daemon's ``/v1/metrics/latency`` outcome counts. Each other design is compared
with the first per utterance, on the utterances both took as one turn and, of those, on the ones
whose replies began with the same words (the first spoken chunk: how long the LLM writes it and
TTS speaks it depends on its words, and the designs' histories can differ).
Prints the load and the machine. Usage::

    .venv/bin/python bench/voice.py --turns 20 --models qwen,smollm2 --write
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import publish  # noqa: E402
from luminad import protocol  # noqa: E402
from luminad.projections.timings import STAGES  # noqa: E402
from tests.support.procfs import cpu_seconds  # noqa: E402

RATE = 48000
FRAME_MS = 20
#: espeak-ng's own default speaking rate (words per minute).
WPM = 175
#: The thinking pause inside a paused utterance (s).
PAUSE_S = 0.6
#: Silence streamed before each utterance, and after a turn's reply before the next (s).
LEAD_S = 0.4
TURN_TIMEOUT_S = 180.0
#: Before each turn and each raw measurement, the daemons must have been idle (under this
#: share of a core) for SETTLE_WINDOW_S; waiting at most SETTLE_MAX_S.
SETTLE_BUSY = 0.05
SETTLE_WINDOW_S = 0.3
SETTLE_MAX_S = 20.0
#: A reply whose first audio went out at most this long after the endpoint was ready when the
#: endpoint came: the end of turn was what the user waited for.
READY_MS = 50.0

#: Spoken questions; a tuple is one utterance said in parts with a PAUSE_S thinking pause.
UTTERANCES: list[tuple[str, ...]] = [
    ("What is the weather like in Paris today?",),
    ("So I was thinking that maybe we could", "go to the beach this weekend. What do you think?"),
    ("Can you suggest a good book to read?",),
    (
        "I have been trying to learn to cook more at home, and I would like a simple recipe "
        "for dinner that does not take more than thirty minutes. What would you suggest?",
    ),
    ("How far away is the moon?",),
    ("I would like to book a table for", "four people tomorrow evening."),
    ("Tell me a fun fact about octopuses.",),
    ("What time is it in Tokyo right now?",),
    ("Can you tell me how to", "make a good cup of green tea?"),
    ("Give me a tip for sleeping better.",),
    (
        "My brother is visiting next week and he loves history and long walks, so what "
        "could we do together in the city on a rainy afternoon?",
    ),
    ("What should I cook for dinner tonight?",),
    ("Remind me what we talked about", "a moment ago."),
    ("Why is the sky blue?",),
    ("How many legs does a spider have?",),
    ("I need a name for my new cat, and she is", "small, grey and very curious."),
    ("What is a good way to start learning the piano as an adult?",),
    ("Say something nice about Mondays.",),
    ("How do I make my plants grow faster?",),
    ("And one more thing:", "what is the capital of Australia?"),
    ("Thank you, that is all for now.",),
]

#: The commit the latency issue measured: the end of the first wave.
PREVIOUS_COMMIT = "bbd628c"


@dataclass(frozen=True)
class Design:
    """How one design's daemon runs: its settings, and the commit whose code it runs (None:
    this checkout)."""

    env: dict[str, str]
    #: What it is, for the report's header.
    summary: str
    commit: str | None = None


SEMANTIC_ENV = {"LUMINA_END_OF_TURN": "smart"}
DESIGNS: dict[str, Design] = {
    "semantic": Design(SEMANTIC_ENV, "this code: smart-turn and the words end the turn"),
    "fixed 500 ms": Design(
        {"LUMINA_END_OF_TURN": "silence", "LUMINA_VAD_HANGOVER_MS": "500"},
        "this code with the previous end of turn: a 500 ms hangover, the speculative start at "
        "150 ms of silence",
    ),
    f"previous ({PREVIOUS_COMMIT})": Design(
        {},
        "the daemon of the commit the latency issue measured, the end of the first wave, with "
        "the same models",
        commit=PREVIOUS_COMMIT,
    ),
}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(values, 100 * q))


def fmt(v: float | None, spec: str = ".0f") -> str:
    return "—" if v is None else format(v, spec)


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}"


async def settled(pids: list[int]) -> float:
    """Wait until the daemons ``pids`` are idle (under SETTLE_BUSY of a core over the last
    SETTLE_WINDOW_S), at most SETTLE_MAX_S; returns the wait (s). A daemon's background work
    after its turn (the implicit-fact extraction) must not fall into another design's turn
    or into the raw parts: the designs share the cores."""
    start = time.monotonic()
    last = [cpu_seconds(f"/proc/{p}/stat") for p in pids]
    while time.monotonic() - start < SETTLE_MAX_S:
        await asyncio.sleep(SETTLE_WINDOW_S)
        now = [cpu_seconds(f"/proc/{p}/stat") for p in pids]
        used = sum(b - a for a, b in zip(last, now, strict=True) if a is not None and b is not None)
        last = now
        if used <= SETTLE_BUSY * SETTLE_WINDOW_S:
            break
    return time.monotonic() - start


# ---------------------------------------------------------------------- speech
def speak(text: str, tmp: Path) -> np.ndarray:
    from tests.support.speech import speak_pcm16

    pcm = speak_pcm16(text, tmp, rate=RATE, wpm=WPM)
    loud = np.flatnonzero(np.abs(pcm) > 300)  # trim espeak's silence: the user's speech only
    return pcm[loud[0] : loud[-1] + 1] if loud.size else pcm


@dataclass
class Utterance:
    parts: tuple[str, ...]
    pcm: list[np.ndarray]

    @property
    def text(self) -> str:
        return " ".join(self.parts)

    @property
    def paused(self) -> bool:
        return len(self.parts) > 1

    def audio(self) -> np.ndarray:
        gap = np.zeros(int(PAUSE_S * RATE), np.int16)
        out: list[np.ndarray] = []
        for i, p in enumerate(self.pcm):
            if i:
                out.append(gap)
            out.append(p)
        return np.concatenate(out)


# ---------------------------------------------------------------------- one live session
@dataclass
class TurnResult:
    utterance: Utterance
    speech_s: float
    final: str = ""
    reply: str = ""
    #: The reply's first spoken chunk (its words decide how long the first audio takes).
    first_chunk: str = ""
    client_v2v_ms: float | None = None
    timing: protocol.TurnTiming | None = None
    turns: int = 0
    premature: bool = False
    partials: int = 0
    errors: list[str] = field(default_factory=list)


class Microphone:
    """Streams real-time paced 20 ms frames, silence included, like a live microphone."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.step = RATE * FRAME_MS // 1000
        self.t0 = time.monotonic()
        self.sent = 0

    def restart(self) -> None:
        """The microphone was idle while another session spoke: pace from now on."""
        self.t0, self.sent = time.monotonic(), 0

    async def frame(self, pcm: np.ndarray) -> float:
        await self.client.ws.send(pcm.astype("<i2").tobytes())
        self.sent += 1
        delay = self.t0 + self.sent * FRAME_MS / 1000 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.5:  # fell behind (a busy machine): do not burst to catch up
            self.t0, self.sent = time.monotonic(), 0
        return time.monotonic()

    async def play(self, pcm: np.ndarray) -> float:
        t = time.monotonic()
        for i in range(0, len(pcm), self.step):
            t = await self.frame(pcm[i : i + self.step])
        return t

    async def silence(self, seconds: float) -> None:
        await self.play(np.zeros(int(seconds * RATE), np.int16))


async def one_turn(client: Any, mic: Microphone, utt: Utterance) -> TurnResult:
    await mic.silence(LEAD_S)
    t_start = time.monotonic()
    t_end = await mic.play(utt.audio())
    speech_s = t_end - t_start - PAUSE_S * (len(utt.parts) - 1)
    res = TurnResult(utterance=utt, speech_s=speech_s)
    quiet = np.zeros(mic.step, np.int16)
    deadline = time.monotonic() + TURN_TIMEOUT_S
    last_id: str | None = None
    while time.monotonic() < deadline:
        finals = [(t, m) for t, m in client.timed(protocol.FinalTranscript) if t > t_start]
        late = [m for t, m in finals if t >= t_end]
        if late:
            last_id = late[-1].turn_id
            if not late[-1].text:
                break  # nothing heard: no reply comes
            done = [
                m
                for m in client.of(protocol.TurnTiming) + client.of(protocol.Error)
                if m.turn_id == last_id
            ]
            if done:
                break
        await mic.frame(quiet)
    finals = [(t, m) for t, m in client.timed(protocol.FinalTranscript) if t > t_start]
    res.turns = len(finals)
    res.premature = any(t < t_end for t, _ in finals)
    res.partials = len(
        [t for t, _ in client.timed(protocol.PartialTranscript) if t_start < t <= t_end]
    )
    res.errors = [e.code for t, e in client.timed(protocol.Error) if t > t_start]
    if last_id is None:
        return res
    res.final = next(m.text for _, m in finals if m.turn_id == last_id)
    res.timing = next((m for m in client.of(protocol.TurnTiming) if m.turn_id == last_id), None)
    res.reply = next(
        (m.text for m in client.of(protocol.AssistantDone) if m.turn_id == last_id), ""
    )
    items = client.items
    for i, r in enumerate(items):
        if isinstance(r.item, protocol.TtsChunk) and r.item.turn_id == last_id:
            frame = next((x for x in items[i + 1 :] if isinstance(x.item, bytes)), None)
            if frame is not None:
                res.client_v2v_ms = 1000 * (frame.at - t_end)
            break
    res.first_chunk = first_chunk(
        m.text for m in client.of(protocol.AssistantDelta) if m.turn_id == last_id
    )
    return res


def first_chunk(deltas: Iterable[str]) -> str:
    """The first chunk the daemon spoke of a reply streamed as ``deltas`` (its own chunker)."""
    from luminad.voice.chunker import SentenceChunker
    from luminad.voice.respond import FIRST_CHUNK_MAX_WORDS

    chunker = SentenceChunker(first_max_words=FIRST_CHUNK_MAX_WORDS)
    for delta in deltas:
        if ready := chunker.add(delta):
            return ready[0]
    return next(iter(chunker.finish()), "")


def daemon_setup(design: Design, base: dict[str, str], home: Path) -> tuple[dict[str, str], Path]:
    """The settings and the working directory of ``design``'s daemon rooted at ``home``. A
    design of another commit runs that commit's tree (``git archive``, under ``home``) with this
    interpreter, told the model as its settings then took it (a GGUF path) and given a cache of
    its own (it converts whisper as it did then)."""
    if design.commit is None:
        return {**base, **design.env}, ROOT
    from luminad.providers.gguf_files import resolve_gguf
    from luminad.settings import load_settings
    from tests.support.daemon import shared_cache_dir

    tree = home / "code"
    tree.mkdir(parents=True)
    got = subprocess.run(["git", "-C", str(ROOT), "archive", design.commit], capture_output=True)
    if got.returncode:
        raise SystemExit(
            f"commit {design.commit} is not in this checkout's history "
            f"({got.stderr.decode(errors='replace').strip()}): fetch it (git fetch --unshallow) "
            f"or leave its design out with --designs"
        )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=got.stdout, check=True)
    models = load_settings({"LUMINA_CACHE_DIR": str(shared_cache_dir())}).models_cache_dir
    gguf = resolve_gguf(base.get("LUMINA_EMBEDDED_MODEL", ""), models)
    env = {**base, "LUMINA_EMBEDDED_MODEL": str(gguf), "LUMINA_CACHE_DIR": str(home / "cache")}
    return {**env, **design.env}, tree


async def live_sessions(
    designs: dict[str, Design],
    base: dict[str, str],
    utterances: list[Utterance],
    home: Path,
    raw: RawParts,
) -> tuple[dict[str, tuple[list[TurnResult], protocol.LatencyMetrics]], list[dict[str, float]]]:
    """One daemon and one session per design, all started first; the designs then take turns
    utterance by utterance, and the raw parts of each utterance are measured right after, so
    the machine's load drifts alike for all of them."""
    from tests.e2e.client import VoiceClient
    from tests.support.daemon import run_daemon

    results: dict[str, list[TurnResult]] = {label: [] for label in designs}
    parts: list[dict[str, float]] = []
    with contextlib.ExitStack() as stack:
        daemons = {}
        for i, (label, design) in enumerate(designs.items()):
            env, cwd = daemon_setup(design, base, home / f"d{i}")
            daemons[label] = stack.enter_context(run_daemon(home / f"d{i}", env=env, cwd=cwd))
        clients, mics = {}, {}
        for label, daemon in daemons.items():
            client = await VoiceClient.connect(
                "ws://localhost/v1/session", unix_path=str(daemon.socket_path)
            )
            await client.hello(sample_rate=RATE, client="bench")
            clients[label], mics[label] = client, Microphone(client)
        pids = [daemon.process.pid for daemon in daemons.values()]
        try:
            for i, utt in enumerate(utterances):
                for label in designs:
                    waited = await settled(pids)
                    mics[label].restart()
                    r = await one_turn(clients[label], mics[label], utt)
                    results[label].append(r)
                    t = r.timing
                    print(
                        f"  turn {i + 1}/{len(utterances)} [{label}]: v2v "
                        f"{fmt(r.client_v2v_ms)} ms (daemon "
                        f"{fmt(t.voice_to_voice_ms if t else None)}), endpoint "
                        f"{fmt(t.endpoint_ms if t else None)} ms, stt "
                        f"{fmt(t.stt_ms if t else None)} ms, turns {r.turns}"
                        f"{' PREMATURE' if r.premature else ''}, partials "
                        f"{r.partials / max(r.speech_s, 1e-3):.1f}/s, errors {r.errors}; "
                        f"load {load_text()}; waited {waited:.1f} s for the daemons to idle; "
                        f"first chunk {r.first_chunk!r}",
                        flush=True,
                    )
                await settled(pids)
                parts.append(await raw.measure(utt, results[next(iter(designs))][-1]))
                print(
                    f"  turn {i + 1}/{len(utterances)} [raw parts alone]: "
                    + ", ".join(f"{k} {v:.0f}" for k, v in parts[-1].items()),
                    flush=True,
                )
        finally:
            for client in clients.values():
                await client.close()
        out = {}
        for label, daemon in daemons.items():
            with daemon.unix() as http:
                body = http.get("/v1/metrics/latency").json()
            out[label] = (results[label], msgspec.convert(body, protocol.LatencyMetrics))
    return out, parts


# ---------------------------------------------------------------------- the limit
class RawParts:
    """The limit's parts, each measured alone in this process (the daemons wait meanwhile):
    final STT, LLM to the first speakable chunk (and to the whole reply), TTS of that chunk (and
    of the whole reply). The reply's context is built by the daemon's own
    :class:`~luminad.voice.respond.Replier` (persona, history, memories, tool schemas), primed
    as a session is, over a throwaway store where each turn is stored as the first design's
    session stored it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    async def __aenter__(self) -> RawParts:
        from luminad.agent.agent import Responder
        from luminad.app import open_lumina
        from luminad.providers.registry import load_engines
        from luminad.settings import load_settings
        from luminad.voice.outlet import Outlet
        from luminad.voice.respond import Replier
        from tests.support.daemon import daemon_env

        async def nowhere(_: Any) -> None:
            return None

        self.home = Path(tempfile.mkdtemp(prefix="bench-voice-raw-"))
        settings = load_settings(daemon_env(self.home, **self.env))
        self.engines = await asyncio.to_thread(load_engines, settings)
        self.app = open_lumina(settings, self.engines.embedder)
        self.avatar = self.app.queries.get_avatar(self.app.default_avatar_id)
        self.conversation = self.app.start_conversation(self.app.default_avatar_id)
        agent = Responder(self.engines.llm, None, max_tokens=settings.max_reply_tokens)
        self.replier = Replier(self.app, agent, Outlet(nowhere, uuid.uuid4()))
        await self.replier.prime(
            self.avatar,
            self.app.queries.get_profile(),
            conversation_id=self.conversation,
            internet=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.app.close()
        with contextlib.suppress(Exception):
            self.engines.close()
        shutil.rmtree(self.home, ignore_errors=True)

    async def measure(self, utt: Utterance, heard: TurnResult) -> dict[str, float]:
        """The raw parts of ``utt``; ``heard`` is the first design's turn on it: its final
        transcript is what the LLM answers, and its reply what the history keeps and TTS speaks,
        so the raw parts do the work that daemon did (a reply of other words takes another time
        to write and to speak)."""
        from luminad.voice.audio import Resampler
        from luminad.voice.chunker import SentenceChunker
        from luminad.voice.respond import FIRST_CHUNK_MAX_WORDS
        from luminad.voice.turn import Turn

        r = Resampler(RATE)
        audio16 = np.concatenate([r.process(utt.audio()), r.flush()])
        t0 = time.perf_counter()
        text = await self.engines.stt.transcribe(audio16, partial=False)
        stt_ms = 1000 * (time.perf_counter() - t0)
        text = heard.final or text
        turn = Turn(turn_id=uuid.uuid4(), source="voice", text=text)
        turn.opened.set()  # its tools may act (on the throwaway store)
        base = asyncio.ensure_future(self.replier.base(self.conversation))
        ctx = await self.replier.context(
            turn, base, conversation_id=self.conversation, avatar=self.avatar, internet=False
        )
        chunker = SentenceChunker(first_max_words=FIRST_CHUNK_MAX_WORDS)
        first, reply = "", ""
        llm_first_ms: float | None = None
        t0 = time.perf_counter()
        async for delta in self.replier.agent.stream_reply(ctx):
            reply += delta
            if llm_first_ms is None and (ready := chunker.add(delta)):
                first = ready[0]
                llm_first_ms = 1000 * (time.perf_counter() - t0)
        llm_full_ms = 1000 * (time.perf_counter() - t0)
        if llm_first_ms is None:
            first = (chunker.finish() or [reply or "Okay."])[0]
            llm_first_ms = llm_full_ms
        first, reply = heard.first_chunk or first, heard.reply or reply
        tts = self.engines.tts
        tts_first_ms = await _synth_ms(tts, first, first_only=True)
        tts_full_ms = await _synth_ms(tts, reply or first, first_only=False)
        # history grows as in the first design's session (the model's cache is reused alike)
        if text:
            self.app.record_utterance(self.conversation, text, turn_id=turn.turn_id)
            if reply.strip():
                self.app.complete_reply(self.conversation, turn.turn_id, reply.strip())
        return {
            "stt_ms": stt_ms,
            "llm_first_chunk_ms": llm_first_ms,
            "tts_first_ms": tts_first_ms,
            "llm_full_ms": llm_full_ms,
            "tts_full_ms": tts_full_ms,
        }


async def _synth_ms(tts: Any, text: str, *, first_only: bool) -> float:
    """Time to the first audio chunk of ``text`` (or to all of it)."""
    t0 = time.perf_counter()
    synth = tts.synthesize(text)
    async with contextlib.aclosing(synth) as chunks:
        async for _ in chunks:
            if first_only:
                break
    return 1000 * (time.perf_counter() - t0)


# ---------------------------------------------------------------------- report
def summarise(
    label: str, runs: list[TurnResult], metrics: protocol.LatencyMetrics
) -> dict[str, Any]:
    def stage(name: str, sel: list[TurnResult] | None = None) -> list[float]:
        vals = []
        for r in sel if sel is not None else runs:
            v = getattr(r.timing, name, None) if r.timing is not None else None
            if v is not None:
                vals.append(float(v))
        return vals

    complete = [r for r in runs if not r.utterance.paused]
    paused = [r for r in runs if r.utterance.paused]
    v2v = [r.client_v2v_ms for r in runs if r.client_v2v_ms is not None]
    after_endpoint = [
        r.timing.voice_to_voice_ms - r.timing.endpoint_ms
        for r in runs
        if r.timing is not None
        and r.timing.voice_to_voice_ms is not None
        and r.timing.endpoint_ms is not None
    ]
    return {
        "label": label,
        "turns": len(runs),
        "v2v": v2v,
        "v2v_complete": [r.client_v2v_ms for r in complete if r.client_v2v_ms is not None],
        "stages": {k: stage(k) for k in STAGES},
        "endpoint_complete": stage("endpoint_ms", complete),
        "endpoint_paused": stage("endpoint_ms", paused),
        "after_endpoint": after_endpoint,
        "ready": sum(ms <= READY_MS for ms in after_endpoint),
        "premature": sum(r.premature for r in runs),
        "premature_paused": sum(r.premature for r in paused),
        "paused": len(paused),
        "extra_turns": sum(max(0, r.turns - 1) for r in runs),
        "runs": runs,
        "partials_per_s": [r.partials / r.speech_s for r in runs if r.speech_s > 0.3],
        "errors": sorted({e for r in runs for e in r.errors}),
        "outcomes": dict(metrics.outcomes),
    }


def report(
    model: str,
    sums: list[dict[str, Any]],
    limit: list[float],
    naive: list[float],
    raw: dict[str, list[float]],
    loads: list[str],
) -> str:
    lines = [
        f"### Model: {model}",
        "",
        "| ms (p50 / p95) | " + " | ".join(s["label"] for s in sums) + " |",
        "|---|" + "---:|" * len(sums),
    ]

    def row(name: str, get: Any) -> None:
        cells = []
        for s in sums:
            xs = get(s)
            cells.append(f"{fmt(pct(xs, 0.5))} / {fmt(pct(xs, 0.95))}" if xs else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    row("**voice-to-voice seen by the client**", lambda s: s["v2v"])
    row(
        "voice-to-voice seen by the client, complete utterances (no mid-sentence pause)",
        lambda s: s["v2v_complete"],
    )
    for k in STAGES:
        row(f"{k} (turn_timing)", lambda s, k=k: s["stages"][k])
    row("endpoint wait, complete utterances", lambda s: s["endpoint_complete"])
    row("endpoint wait, paused utterances", lambda s: s["endpoint_paused"])
    row(
        "first audio after the endpoint (voice_to_voice_ms - endpoint_ms)",
        lambda s: s["after_endpoint"],
    )
    lines.append(
        f"| replies ready when the endpoint came (first audio <= {READY_MS:.0f} ms after it) | "
        + " | ".join(f"{s['ready']} of {len(s['after_endpoint'])}" for s in sums)
        + " |"
    )
    lines.append(
        "| premature endpoints (all / paused utterances) | "
        + " | ".join(f"{s['premature']} / {s['premature_paused']} of {s['paused']}" for s in sums)
        + " |"
    )
    lines.append(
        "| partial transcripts per second of speech (median) | "
        + " | ".join(fmt(pct(s["partials_per_s"], 0.5), ".1f") for s in sums)
        + " |"
    )
    lines.append(
        "| daemon outcomes (/v1/metrics/latency) | "
        + " | ".join(
            ", ".join(f"{k} {v}" for k, v in s["outcomes"].items()) or "not counted" for s in sums
        )
        + " |"
    )
    lines.append("| errors | " + " | ".join(", ".join(s["errors"]) or "none" for s in sums) + " |")
    lines += [
        "",
        "| limit, each part measured alone (ms) | p50 | p95 |",
        "|---|---:|---:|",
        "| **limit: endpoint wait (semantic run) + final STT + LLM first chunk + TTS of it** "
        f"| {fmt(pct(limit, 0.5))} | {fmt(pct(limit, 0.95))} |",
        f"| naive sequential: 500 ms hangover + final STT + whole reply + TTS of the whole reply "
        f"| {fmt(pct(naive, 0.5))} | {fmt(pct(naive, 0.95))} |",
    ]
    for k, label in [
        ("stt_ms", "raw final STT"),
        ("llm_first_chunk_ms", "raw LLM to the first speakable chunk"),
        ("tts_first_ms", "raw TTS of that chunk"),
        ("llm_full_ms", "raw LLM, whole reply"),
        ("tts_full_ms", "raw TTS, whole reply"),
    ]:
        lines.append(f"| {label} | {fmt(pct(raw[k], 0.5))} | {fmt(pct(raw[k], 0.95))} |")
    sem = sums[0]
    p_sem = pct(sem["v2v"], 0.5)
    p_lim = pct(limit, 0.5)
    lines += [
        "",
        f"- voice-to-voice p50: {sem['label']} {fmt(p_sem)} ms; limit {fmt(p_lim)} ms "
        f"({sem['label']} - limit: {fmt(p_sem - p_lim if p_sem and p_lim else None, '+.0f')} ms).",
    ]
    for other in sums[1:]:
        p_other = pct(other["v2v"], 0.5)
        # the same utterance in both designs: the turn-to-turn spread cancels
        both = [
            (b.client_v2v_ms - a.client_v2v_ms, a.first_chunk == b.first_chunk)
            for a, b in zip(sem["runs"], other["runs"], strict=True)
            if a.client_v2v_ms is not None
            and b.client_v2v_ms is not None
            and a.turns == 1
            and b.turns == 1
        ]
        pairs = [d for d, _ in both]
        # the reply's words set its first audio's time (LLM to the chunk, TTS of it): where the
        # two daemons began their replies alike, the difference is the designs'
        same = [d for d, alike in both if alike]
        lines.append(
            f"- {other['label']} - {sem['label']}, voice-to-voice p50: {fmt(p_other)} - "
            f"{fmt(p_sem)} = {fmt(p_other - p_sem if p_sem and p_other else None, '+.0f')} ms; "
            f"paired on the {len(pairs)} utterances both took as one turn, per utterance: median "
            f"{fmt(pct(pairs, 0.5), '+.0f')} ms (p25 {fmt(pct(pairs, 0.25), '+.0f')}, p75 "
            f"{fmt(pct(pairs, 0.75), '+.0f')}); on the {len(same)} of them whose replies began "
            f"with the same words (the first spoken chunk): median {fmt(pct(same, 0.5), '+.0f')} "
            f"ms (p25 {fmt(pct(same, 0.25), '+.0f')}, p75 {fmt(pct(same, 0.75), '+.0f')})."
        )
    lines.append(f"- load average during the runs: {'; '.join(loads)}.")
    return "\n".join(lines)


async def bench_model(model: str, turns: int, home: Path, tmp: Path) -> str:
    utterances = [
        Utterance(parts, [speak(p, tmp) for p in parts])
        for parts in (UTTERANCES * (turns // len(UTTERANCES) + 1))[:turns]
    ]
    embedded = "" if model == "default" else model
    base = {"LUMINA_LLM": "embedded", "LUMINA_EMBEDDED_MODEL": embedded, **EXTRA_ENV}
    print(f"model {model}: designs {', '.join(DESIGNS)} take turns; load {load_text()}")
    async with RawParts(base) as raw:
        runs_by, raw_list = await live_sessions(
            DESIGNS, base, utterances, home / (model or "default"), raw
        )
    loads = [f"at the end {load_text()}"]
    sums = [summarise(label, runs, metrics) for label, (runs, metrics) in runs_by.items()]
    semantic_runs = next(iter(runs_by.values()))[0]
    columns = {k: [r[k] for r in raw_list] for k in raw_list[0]} if raw_list else {}
    limit = [
        float(run.timing.endpoint_ms or 0.0)
        + r["stt_ms"]
        + r["llm_first_chunk_ms"]
        + r["tts_first_ms"]
        for run, r in zip(semantic_runs, raw_list, strict=True)
        if run.timing is not None
    ]
    naive = [500.0 + r["stt_ms"] + r["llm_full_ms"] + r["tts_full_ms"] for r in raw_list]
    return report(model, sums, limit, naive, columns, loads)


EXTRA_ENV: dict[str, str] = {}


def header(turns: int, models: str, max_tokens: int, started: str) -> str:
    paused = sum(len(u) > 1 for u in (UTTERANCES * (turns // len(UTTERANCES) + 1))[:turns])
    pause_ms = int(PAUSE_S * 1000)
    return "\n\n".join(
        [
            "## Voice loop",
            f"`bench/voice.py --turns {turns} --models {models} --max-reply-tokens {max_tokens}` "
            f"(started {started}, {machine()}; the load average is printed per model below and "
            "per turn in the script's output). A client of the running daemon over its Unix "
            f"socket: one session per design, {turns} spoken turns ({paused} with a {pause_ms} ms "
            f"pause in mid-sentence), espeak-ng at {WPM} words per minute, 48 kHz, in real-time "
            "20 ms frames with silence between turns, history growing. Voice-to-voice is seen by "
            "the client: last voiced sample sent -> first reply audio frame received. Designs: "
            + "; ".join(f"**{label}** ({d.summary})" for label, d in DESIGNS.items())
            + ". Each design has its own daemon and session, all started first; the designs take "
            "turns utterance by utterance, and the limit's parts of each utterance are measured "
            "right after it, alone in the bench process (the daemons wait), so load drifts alike "
            "for all. Each turn and each raw measurement starts once every daemon has been idle "
            f"for {SETTLE_WINDOW_S * 1000:.0f} ms (a daemon's background work after its turn "
            "does not fall into another design's turn).",
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--turns", type=int, default=20, help="spoken turns per design (>= 20)")
    ap.add_argument(
        "--models",
        default="qwen,smollm2",
        help="embedded models, comma-separated (LUMINA_EMBEDDED_MODEL values; default: the "
        "daemon's default)",
    )
    ap.add_argument(
        "--max-reply-tokens", type=int, default=48, help="LUMINA_MAX_REPLY_TOKENS for the runs"
    )
    ap.add_argument(
        "--designs",
        default=",".join(DESIGNS),
        help="designs to run, comma-separated (default: all; the first is the one the limit "
        "and the comparison are about)",
    )
    ap.add_argument(
        "--also-at",
        action="append",
        default=[],
        metavar="COMMIT",
        help="also run the semantic design with the code of COMMIT (an A/B of a code change in "
        "the same run; repeatable)",
    )
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the daemons' data and logs (<tmp>/bench-voice-*/<model>/d<N>/daemon.log) "
        "instead of removing them at the end",
    )
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _interrupted)  # stop the daemons and clean up, as on Ctrl-C
    chosen = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = [d for d in chosen if d not in DESIGNS]
    if unknown or not chosen:
        ap.error(f"unknown designs {unknown}: choose from {', '.join(DESIGNS)}")
    for label in [d for d in DESIGNS if d not in chosen]:
        del DESIGNS[label]
    for commit in args.also_at:
        DESIGNS[f"semantic at {commit}"] = Design(
            SEMANTIC_ENV,
            f"the semantic design with the code of commit {commit}: an A/B of a code change in "
            "the same run",
            commit=commit,
        )
    EXTRA_ENV["LUMINA_MAX_REPLY_TOKENS"] = str(args.max_reply_tokens)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"machine: {machine()}; load average at start: {load_text()}", flush=True)
    home = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    tmp = home / "speech"
    tmp.mkdir()
    sections: list[str] = []
    try:
        for model in [m.strip() for m in args.models.split(",") if m.strip()]:
            sections.append(asyncio.run(bench_model(model, args.turns, home, tmp)))
            text = "\n\n".join(
                [header(args.turns, args.models, args.max_reply_tokens, started), *sections]
            )
            # after each model, so a long run keeps what it measured
            publish("Voice loop", text, write=args.write)
    finally:
        if args.keep:
            print(f"daemons' data and logs kept in {home}", flush=True)
        else:
            shutil.rmtree(home, ignore_errors=True)
    return 0


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("interrupted: the daemons were stopped", file=sys.stderr)
        raise SystemExit(130) from None
