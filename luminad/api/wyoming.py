"""Wyoming beside the HTTP API: Home Assistant's speech services and its satellites, served by
the same engines and the same agent (the ``wyoming`` package speaks the protocol).

* **Server** (``LUMINA_WYOMING=1``, ``LUMINA_WYOMING_PORT``, on ``LUMINA_HOST``, so loopback
  unless ``LUMINA_ALLOW_LAN=1``): one :class:`WyomingHandler` per connection.

  - ``describe`` -> ``info``: an ASR program (the whisper model), a TTS program (the Piper
    voices) and a handle program (the Lumina agent).
  - ``transcribe``? ``audio-start`` ``audio-chunk``* ``audio-stop`` -> ``transcript`` (speech
    recognition only: nothing is stored, as for any engine call).
  - ``synthesize`` -> ``audio-start`` ``audio-chunk``* ``audio-stop`` (speech only).
  - ``transcript`` -> ``handled`` (or ``not-handled``): a turn of a conversation, stored with
    source ``wyoming``; ``handled.context.conversation_id`` continues it when sent back in the
    next ``transcript.context``.

* **Satellites** (``LUMINA_SATELLITES=tcp://host:port,...``): one :class:`SatelliteLink` per
  satellite connects to it as Home Assistant does (``run-satellite``), feeds the audio it
  streams after ``run-pipeline`` to a voice session and streams the spoken reply back
  (``transcript``, then ``audio-start``/``audio-chunk``/``audio-stop``); it reconnects when the
  satellite goes away.

Every turn goes through :class:`~luminad.voice.session.VoiceSession` exactly as a WebSocket
session's does (the :class:`SessionBridge` turns its protocol messages into Wyoming events), so
memory, tools and the privacy rules are the same. Logs carry ids and types, never content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error as WyomingError
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    Describe,
    HandleModel,
    HandleProgram,
    Info,
    TtsProgram,
    TtsVoice,
)
from wyoming.ping import Ping, Pong
from wyoming.pipeline import RunPipeline
from wyoming.satellite import RunSatellite
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize

from luminad import errors, protocol
from luminad.providers.base import STT_SAMPLE_RATE
from luminad.voice import transcribe as transcribe_stage

if TYPE_CHECKING:
    from luminad.api.runtime import Runtime
    from luminad.voice.session import VoiceSession

log = logging.getLogger("luminad.wyoming")

#: What turns from Wyoming are recorded as (``UtteranceTranscribed.source``).
SOURCE = "wyoming"
#: Longest audio chunk sent to a Wyoming client (s).
CHUNK_S = 0.5
#: The longest a ``transcript`` may wait for its reply (s).
TURN_TIMEOUT_S = 300.0
#: Wait before reconnecting to a satellite that went away or refused (s).
RECONNECT_S = 3.0
#: Audio that was not ended by its turn is ended this long after it has played (s).
QUIET_S = 0.5
#: See :attr:`SatelliteLink.idle_s`.
IDLE_S = 15.0
#: A satellite's microphone hears its own speaker: its audio is not listened to while the reply
#: plays, and this long after (s).
ECHO_TAIL_S = 0.3
_ATTRIBUTION = Attribution(name="Lumina", url="")
_LANGUAGES = ["en"]

Write = Callable[[Event], Awaitable[None]]


def _about(name: str, description: str) -> dict[str, Any]:
    """The fields every Wyoming artifact (program, model, voice) carries."""
    return {
        "name": name,
        "description": description,
        "attribution": _ATTRIBUTION,
        "installed": True,
        "version": None,
    }


def describe(runtime: Runtime) -> Info:
    """``info`` for ``describe``: what this daemon offers Home Assistant."""
    _, engines = runtime.loaded()
    model = runtime.settings.stt_model
    asr = AsrProgram(
        **_about("lumina-whisper", "whisper.cpp speech recognition in Lumina"),
        models=[AsrModel(**_about(model, f"whisper {model}"), languages=_LANGUAGES)],
    )
    tts = TtsProgram(
        **_about("lumina-piper", "Piper voices in Lumina"),
        voices=[
            TtsVoice(**_about(voice.id, voice.name), languages=[voice.language])
            for voice in engines.tts.voices()
        ],
    )
    agent = f"Lumina ({engines.llm.name} {engines.llm.model})"
    handle = HandleProgram(
        **_about("lumina", "the Lumina assistant: memory, tools and your avatars"),
        models=[HandleModel(**_about("lumina", agent), languages=_LANGUAGES)],
    )
    return Info(asr=[asr], tts=[tts], handle=[handle])


def audio_events(pcm: bytes, rate: int) -> list[Event]:
    """``audio-chunk`` events of at most :data:`CHUNK_S` for PCM16LE mono at ``rate``."""
    step = max(2, int(rate * CHUNK_S) * 2)
    return [
        AudioChunk(rate=rate, width=2, channels=1, audio=pcm[i : i + step]).event()
        for i in range(0, len(pcm), step)
    ]


async def _discard(event: Event) -> None:
    return None


def error_event(exc: errors.LuminaError) -> Event:
    text = f"{exc.message} {exc.action}" if exc.action else exc.message
    return WyomingError(text=text, code=exc.code).event()


# ------------------------------------------------------------------------------ one session
@dataclass
class SessionBridge:
    """A voice session driven over Wyoming: its protocol messages become Wyoming events.

    ``write`` sends to the Wyoming peer. Spoken audio (``tts_chunk`` + frame) becomes
    ``audio-start`` (once per turn or announcement), ``audio-chunk`` and ``audio-stop`` (at
    ``assistant_done``, at the next turn's audio, or once an announcement, which has no
    ``assistant_done``, has played); ``final_transcript`` becomes ``transcript``; errors become
    ``error``. Turn ends (``assistant_done``, ``cancelled``, an error of a turn) are also put on
    :attr:`ends`.
    """

    runtime: Runtime
    write: Write
    ends: asyncio.Queue[protocol.ServerMessage] = field(default_factory=asyncio.Queue)
    session: VoiceSession | None = None
    _rate: int = 0
    #: The turn (or announcement) whose audio is open, between audio-start and audio-stop.
    _audio_turn: str | None = None
    _chunks: int = 0
    _quiet: asyncio.Task[None] | None = None
    #: Turns whose ``final_transcript`` came and whose end has not: they end their own audio.
    _replying: set[str] = field(default_factory=set)
    #: When the audio sent so far will have finished playing (``time.monotonic()``).
    playing_until: float = 0.0

    async def open(
        self,
        *,
        tts: bool,
        conversation_id: str | None = None,
        prime: bool = True,
        announcements: bool = False,
    ) -> protocol.Ready:
        """Start the voice session; with ``announcements`` it is one of the open sessions the
        daemon speaks in (a timer went off)."""
        from luminad.voice.session import VoiceSession

        app, engines = self.runtime.loaded()
        session = VoiceSession(
            app=app,
            engines=engines,
            settings=self.runtime.settings,
            send=self.send,
            timers=self.runtime.timers,
        )
        session.state.source = SOURCE
        session.tuning.prime_llm = prime
        try:
            ready = await session.start(
                protocol.Hello(
                    client=SOURCE,
                    sample_rate=STT_SAMPLE_RATE,
                    tts=tts,
                    conversation_id=conversation_id,
                )
            )
        except BaseException:
            await session.close()
            raise
        self.session = session
        if announcements:
            self.runtime.sessions.add(session)
        return ready

    async def close(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
        if self.session is not None:
            self.runtime.sessions.discard(self.session)
            await self.session.close()
            self.session = None

    async def send(self, item: protocol.ServerMessage | bytes) -> None:
        """The session's send: every message it would put on a WebSocket."""
        match item:
            case bytes() | bytearray() | memoryview():
                await self._audio(bytes(item))
            case protocol.TtsChunk(turn_id=turn_id, sample_rate=rate):
                if self._audio_turn not in (None, turn_id):
                    await self._end_audio()
                self._rate, self._audio_turn = rate, turn_id
            case protocol.FinalTranscript(turn_id=turn_id, text=text):
                self._replying.add(turn_id)
                await self.write(Transcript(text=text).event())
            case protocol.AssistantDone(turn_id=turn_id) | protocol.Cancelled(turn_id=turn_id):
                self._replying.discard(turn_id)
                await self._end_audio()
                self.ends.put_nowait(item)
            case protocol.Error(turn_id=turn_id):
                if turn_id is not None:  # the turn ends; an error without one does not end it
                    await self._end_audio()
                await self.write(WyomingError(text=item.message, code=item.code).event())
                if turn_id is not None:
                    self._replying.discard(turn_id)
                    self.ends.put_nowait(item)
            case _:
                pass

    async def _audio(self, pcm: bytes) -> None:
        start = max(self.playing_until, time.monotonic())
        self.playing_until = start + len(pcm) / 2 / max(self._rate, 1)
        if self._chunks == 0:
            await self.write(AudioStart(rate=self._rate, width=2, channels=1).event())
        self._chunks += 1
        for event in audio_events(pcm, self._rate):
            await self.write(event)
        if self._quiet is not None:
            self._quiet.cancel()
        self._quiet = asyncio.ensure_future(self._stop_when_played(self._chunks))

    async def _stop_when_played(self, chunks: int) -> None:
        """Audio with no ``assistant_done`` (an announcement) ends once it has played."""
        await asyncio.sleep(max(0.0, self.playing_until - time.monotonic()) + QUIET_S)
        if self._chunks == chunks and self._audio_turn not in self._replying:
            await self._end_audio()

    async def _end_audio(self) -> None:
        if self._chunks:
            self._chunks, self._audio_turn = 0, None
            await self.write(AudioStop().event())


# ------------------------------------------------------------------------------ the server
class WyomingHandler(AsyncEventHandler):
    """One Wyoming client (Home Assistant): speech recognition, speech, and agent turns."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        runtime: Runtime,
        conversations: ConversationIds,
    ) -> None:
        super().__init__(reader, writer)
        self.runtime = runtime
        self.conversations = conversations
        self._converter = AudioChunkConverter(rate=STT_SAMPLE_RATE, width=2, channels=1)
        self._audio: list[bytes] = []

    async def handle_event(self, event: Event) -> bool:
        try:
            await self._dispatch(event)
        except errors.LuminaError as exc:
            await self.write_event(error_event(exc))
        except Exception as exc:  # a bug: say so, keep the connection
            log.error("wyoming: %s failed: %s", event.type, type(exc).__name__, exc_info=exc)
            await self.write_event(error_event(errors.LuminaError("Lumina hit an internal error.")))
        return True

    async def _dispatch(self, event: Event) -> None:
        if Describe.is_type(event.type):
            await self.write_event(describe(self.runtime).event())
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif AudioStart.is_type(event.type):
            self._audio = []
        elif AudioChunk.is_type(event.type):
            self._audio.append(self._converter.convert(AudioChunk.from_event(event)).audio)
        elif AudioStop.is_type(event.type):
            await self._transcribe()
        elif Synthesize.is_type(event.type):
            await self._synthesize(Synthesize.from_event(event))
        elif Transcript.is_type(event.type):
            await self.write_event(await self._handle(Transcript.from_event(event)))

    async def _transcribe(self) -> None:
        _, engines = self.runtime.loaded()
        audio = np.frombuffer(b"".join(self._audio), dtype=np.int16)
        self._audio = []
        text = await transcribe_stage.transcribe(engines.stt, audio, partial=False)
        log.info("wyoming: transcribed %.1f s of audio", len(audio) / STT_SAMPLE_RATE)
        await self.write_event(Transcript(text=text).event())

    async def _synthesize(self, request: Synthesize) -> None:
        _, engines = self.runtime.loaded()
        wanted = request.voice.name if request.voice is not None else None
        voice = wanted if wanted in {v.id for v in engines.tts.voices()} else None
        started = False
        try:
            async for chunk in engines.tts.synthesize(request.text, voice=voice):
                if not started:
                    started = True
                    await self.write_event(
                        AudioStart(rate=chunk.sample_rate, width=2, channels=1).event()
                    )
                for event in audio_events(chunk.pcm, chunk.sample_rate):
                    await self.write_event(event)
        except errors.LuminaError:
            raise
        except Exception as exc:
            raise errors.TtsUnavailable(f"speech synthesis failed: {exc}") from exc
        finally:
            if started:
                await self.write_event(AudioStop().event())

    async def _handle(self, transcript: Transcript) -> Event:
        """One agent turn: ``handled`` with the reply, or ``not-handled`` with what went wrong."""
        context = transcript.context or {}
        given = context.get("conversation_id")
        given = given if isinstance(given, str) else None
        bridge = SessionBridge(self.runtime, _discard)  # the answer is `handled`, nothing else
        try:
            try:
                ready = await bridge.open(
                    tts=False, conversation_id=self.conversations.ours(given), prime=False
                )
            except (errors.ConversationNotFound, errors.BadMessage):
                # a conversation deleted since, or a client's id seen for the first time
                ready = await bridge.open(tts=False, prime=False)
            self.conversations.remember(given, ready.conversation_id)
            assert bridge.session is not None
            await bridge.session.handle(protocol.Text(text=transcript.text))
            end = await asyncio.wait_for(bridge.ends.get(), TURN_TIMEOUT_S)
        except errors.LuminaError as exc:
            return NotHandled(text=exc.message).event()
        except TimeoutError:
            return NotHandled(text="Lumina did not answer in time.").event()
        finally:
            await bridge.close()
        context = {"conversation_id": ready.conversation_id}
        if isinstance(end, protocol.AssistantDone):
            return Handled(text=end.text, context=context).event()
        text = end.message if isinstance(end, protocol.Error) else "The reply was cancelled."
        return NotHandled(text=text, context=context).event()


@dataclass
class ConversationIds:
    """A client's conversation ids -> ours. Home Assistant sends its own id (a ULID) in
    ``transcript.context`` and never ours back; the same id continues the same conversation
    (while the daemon runs; ids only, no content)."""

    limit: int = 1000
    _ids: OrderedDict[str, str] = field(default_factory=OrderedDict)

    def ours(self, given: str | None) -> str | None:
        """Our conversation for a client's id (which may already be one of ours)."""
        if given is None:
            return None
        return self._ids.get(given, given)

    def remember(self, given: str | None, ours: str) -> None:
        if given is None or given == ours:
            return
        self._ids[given] = ours
        self._ids.move_to_end(given)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)


@dataclass
class WyomingServer:
    """The Wyoming listener: one :class:`WyomingHandler` task per connection."""

    runtime: Runtime
    server: asyncio.Server | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    conversations: ConversationIds = field(default_factory=ConversationIds)

    async def start(self, host: str, port: int) -> int:
        """Listen; the port bound (``port`` 0 picks a free one)."""
        self.server = await asyncio.start_server(self._connected, host=host, port=port)
        bound: int = self.server.sockets[0].getsockname()[1]
        log.info("wyoming: listening on %s:%s", host, bound)
        return bound

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await WyomingHandler(reader, writer, self.runtime, self.conversations).run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.tasks.discard(task)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5)


# ------------------------------------------------------------------------------ satellites
@dataclass
class SatelliteLink:
    """Drives one ``wyoming-satellite`` as Home Assistant would, reconnecting when it goes away."""

    runtime: Runtime
    uri: str
    reconnect_s: float = RECONNECT_S
    #: After this long without an event the satellite is asked to ``describe`` itself; after
    #: twice this long it is taken for gone and reconnected (s).
    idle_s: float = IDLE_S
    host: str = field(init=False)
    port: int = field(init=False)

    def __post_init__(self) -> None:
        url = urlparse(self.uri)
        if url.scheme != "tcp" or url.hostname is None or url.port is None:
            raise errors.BadMessage(
                f"A satellite address must be tcp://host:port, not {self.uri!r}.",
                action="Fix LUMINA_SATELLITES, e.g. tcp://192.168.1.20:10700.",
            )
        self.host, self.port = url.hostname, url.port

    async def run(self) -> None:
        """Connect, serve, reconnect, until cancelled."""
        host, port = self.host, self.port
        while True:
            try:
                await self._serve(AsyncTcpClient(host, port))
            except (OSError, asyncio.IncompleteReadError, EOFError) as exc:
                log.info("satellite %s:%s: %s", host, port, type(exc).__name__)
            except errors.LuminaError as exc:
                log.warning("satellite %s:%s: %s", host, port, exc.code)
            await asyncio.sleep(self.reconnect_s)

    async def _serve(self, client: AsyncTcpClient) -> None:
        await client.connect()
        bridge = SessionBridge(self.runtime, client.write_event)
        converter = AudioChunkConverter(rate=STT_SAMPLE_RATE, width=2, channels=1)
        streaming = False
        reading: asyncio.Task[Event | None] | None = None
        try:
            await bridge.open(tts=True, announcements=True)
            await client.write_event(RunSatellite().event())
            log.info("satellite %s: connected", self.uri)
            probing = False
            while True:
                # a read is never cancelled half-way (that would lose the stream's framing)
                reading = reading or asyncio.ensure_future(client.read_event())
                done, _ = await asyncio.wait({reading}, timeout=self.idle_s)
                if not done:  # quiet (waiting for its wake word?), or gone without a word
                    if probing:
                        raise TimeoutError("the satellite stopped answering")
                    probing = True
                    await client.write_event(Describe().event())  # every version answers info
                    continue
                event, reading, probing = reading.result(), None, False
                if event is None:
                    raise EOFError("satellite disconnected")
                assert bridge.session is not None
                if RunPipeline.is_type(event.type):
                    streaming = True
                elif AudioChunk.is_type(event.type) and streaming:
                    chunk = converter.convert(AudioChunk.from_event(event))
                    if time.monotonic() < bridge.playing_until + ECHO_TAIL_S:
                        continue  # its own voice, from its speaker
                    await bridge.session.feed_audio(chunk.audio)
                elif AudioStop.is_type(event.type) and streaming:
                    streaming = False
                    await bridge.session.handle(protocol.End())
                elif Ping.is_type(event.type):
                    await client.write_event(Pong(text=Ping.from_event(event).text).event())
        finally:
            if reading is not None:
                reading.cancel()
            await bridge.close()
            with contextlib.suppress(Exception):
                await client.disconnect()


@dataclass
class Wyoming:
    """Everything Wyoming the daemon runs: the server and the satellite links."""

    runtime: Runtime
    server: WyomingServer | None = None
    links: list[asyncio.Task[None]] = field(default_factory=list)
    port: int | None = None

    async def start(self) -> None:
        settings = self.runtime.settings
        if settings.wyoming:
            self.server = WyomingServer(self.runtime)
            self.port = await self.server.start(settings.host, settings.wyoming_port)
        for uri in settings.satellites:
            link = SatelliteLink(self.runtime, uri)
            self.links.append(asyncio.create_task(link.run(), name=f"satellite {uri}"))

    @property
    def url(self) -> str | None:
        if self.port is None:
            return None
        host = self.runtime.settings.host
        return f"tcp://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def stop(self) -> None:
        for task in self.links:
            task.cancel()
        if self.links:
            await asyncio.wait(self.links, timeout=5)
        if self.server is not None:
            await self.server.stop()
