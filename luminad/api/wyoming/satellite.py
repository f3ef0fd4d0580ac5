"""Satellites: we connect to a ``wyoming-satellite`` as Home Assistant does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.pipeline import RunPipeline
from wyoming.satellite import RunSatellite

from luminad import errors, protocol
from luminad.api.wyoming.bridge import SessionBridge
from luminad.providers.base import STT_SAMPLE_RATE

if TYPE_CHECKING:
    from luminad.api.runtime import Runtime

log = logging.getLogger("luminad.wyoming")

#: Wait before reconnecting to a satellite that went away or refused (s).
RECONNECT_S = 3.0
#: See :attr:`SatelliteLink.idle_s`.
IDLE_S = 15.0
#: A satellite's microphone hears its own speaker: its audio is not listened to while the reply
#: plays, and this long after (s).
ECHO_TAIL_S = 0.3


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
