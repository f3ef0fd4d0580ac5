"""A small WebSocket client of ``/v1/session`` for end-to-end tests and the voice benchmark."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from luminad import protocol

_decoder = msgspec.json.Decoder(protocol.ServerMessage)


@dataclass
class Received:
    at: float
    item: protocol.ServerMessage | bytes


@dataclass
class VoiceClient:
    """Collects every message with its arrival time (``time.monotonic``)."""

    ws: Any
    items: list[Received] = field(default_factory=list)
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, url: str, headers: dict[str, str] | None = None, *, unix_path: str | None = None
    ) -> VoiceClient:
        """Connect to ``url`` with ``headers`` (the token), or through the Unix socket
        ``unix_path`` (no token needed)."""
        from websockets.asyncio.client import connect, unix_connect

        if unix_path is not None:
            ws = await unix_connect(unix_path, uri=url, max_size=16 * 1024 * 1024, open_timeout=30)
        else:
            ws = await connect(
                url, additional_headers=headers, max_size=16 * 1024 * 1024, open_timeout=30
            )
        client = cls(ws)
        client._task = asyncio.create_task(client._receive())
        return client

    async def _receive(self) -> None:
        async for frame in self.ws:
            item = frame if isinstance(frame, bytes) else _decoder.decode(frame)
            self.items.append(Received(time.monotonic(), item))
            self._new.set()

    async def close(self) -> None:
        await self.ws.close()
        if self._task is not None:
            self._task.cancel()

    async def send(self, message: msgspec.Struct) -> float:
        await self.ws.send(protocol.encode(message).decode())
        return time.monotonic()

    async def hello(self, **fields: Any) -> protocol.Ready:
        await self.send(protocol.Hello(client=fields.pop("client", "e2e"), **fields))
        ready: protocol.Ready = (await self.wait_for(protocol.Ready, within=60))[0]
        return ready

    def of(self, cls: type) -> list[Any]:
        return [r.item for r in self.items if isinstance(r.item, cls)]

    def timed(self, cls: type) -> list[tuple[float, Any]]:
        return [(r.at, r.item) for r in self.items if isinstance(r.item, cls)]

    def frames(self) -> list[tuple[float, bytes]]:
        return [(r.at, r.item) for r in self.items if isinstance(r.item, bytes)]

    async def wait_for(self, cls: type, count: int = 1, within: float = 120.0) -> list[Any]:
        async def _wait() -> list[Any]:
            while len(self.of(cls)) < count:
                errors = self.of(protocol.Error)
                if errors and cls is not protocol.Error and errors[-1].code != "rate_limited":
                    raise AssertionError(f"daemon error: {errors[-1]}")
                self._new.clear()
                await self._new.wait()
            return self.of(cls)

        return await asyncio.wait_for(_wait(), within)

    async def stream(self, pcm: np.ndarray, rate: int, *, frame_ms: int = 20) -> float:
        """Send ``pcm`` at real-time pace in ``frame_ms`` frames; the time the last was sent."""
        step = rate * frame_ms // 1000
        start = time.monotonic()
        for n, i in enumerate(range(0, len(pcm), step)):
            await self.ws.send(pcm[i : i + step].astype("<i2").tobytes())
            delay = start + (n + 1) * frame_ms / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        return time.monotonic()

    def reply_audio(self, turn_id: str) -> tuple[bytes, int]:
        """The PCM of a turn's tts chunks (each header is followed by its frame)."""
        pcm = bytearray()
        rate = 0
        header: protocol.TtsChunk | None = None
        for r in self.items:
            if isinstance(r.item, protocol.TtsChunk):
                header = r.item
            elif isinstance(r.item, bytes):
                assert header is not None, "binary frame without a tts_chunk header"
                if header.turn_id == turn_id:
                    pcm += r.item
                    rate = header.sample_rate
                header = None
        return bytes(pcm), rate


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.int16)
