"""The Wyoming server: Home Assistant's speech recognition, speech and agent turns."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
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
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize

from luminad import errors, protocol
from luminad.api.wyoming.bridge import SessionBridge, audio_events, error_event
from luminad.providers.base import STT_SAMPLE_RATE
from luminad.voice import transcribe as transcribe_stage

if TYPE_CHECKING:
    from luminad.api.runtime import Runtime

log = logging.getLogger("luminad.wyoming")

#: The longest a ``transcript`` may wait for its reply (s).
TURN_TIMEOUT_S = 300.0
_ATTRIBUTION = Attribution(name="Lumina", url="")
_LANGUAGES = ["en"]


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


async def _discard(event: Event) -> None:
    return None


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
