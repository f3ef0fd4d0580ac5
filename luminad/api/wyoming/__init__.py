"""Wyoming beside the HTTP API: Home Assistant's speech services and its satellites, served by
the same engines and the same agent (the ``wyoming`` package speaks the protocol).

* **Server** (``LUMINA_WYOMING=1``, ``LUMINA_WYOMING_PORT``, on ``LUMINA_HOST``, so loopback
  unless ``LUMINA_ALLOW_LAN=1``): one :class:`~.server.WyomingHandler` per connection.

  - ``describe`` -> ``info``: an ASR program (the whisper model), a TTS program (the Piper
    voices) and a handle program (the Lumina agent).
  - ``transcribe``? ``audio-start`` ``audio-chunk``* ``audio-stop`` -> ``transcript`` (speech
    recognition only: nothing is stored, as for any engine call).
  - ``synthesize`` -> ``audio-start`` ``audio-chunk``* ``audio-stop`` (speech only).
  - ``transcript`` -> ``handled`` (or ``not-handled``): a turn of a conversation, stored with
    source ``wyoming``; ``handled.context.conversation_id`` continues it when sent back in the
    next ``transcript.context``.

* **Satellites** (``LUMINA_SATELLITES=tcp://host:port,...``): one
  :class:`~.satellite.SatelliteLink` per satellite connects to it as Home Assistant does
  (``run-satellite``), feeds the audio it streams after ``run-pipeline`` to a voice session and
  streams the spoken reply back (``transcript``, then ``audio-start``/``audio-chunk``/
  ``audio-stop``); it reconnects when the satellite goes away.

Every turn goes through :class:`~luminad.voice.session.VoiceSession` exactly as a WebSocket
session's does (:class:`~.bridge.SessionBridge` turns its protocol messages into Wyoming
events), so memory, tools and the privacy rules are the same. Logs carry ids and types, never
content.

Modules: :mod:`.bridge` (a voice session as Wyoming events), :mod:`.server` (Home Assistant
connects to us), :mod:`.satellite` (we connect to a satellite); :class:`Wyoming` runs them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from luminad.api.wyoming.satellite import SatelliteLink
from luminad.api.wyoming.server import WyomingServer

if TYPE_CHECKING:
    from luminad.api.runtime import Runtime


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
