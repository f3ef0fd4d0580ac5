"""Chat through an Ollama server: ``/api/chat`` streaming (NDJSON) with the ``ollama`` client.

``settings.ollama_host`` (or ``OLLAMA_HOST``) and ``settings.llm_model`` (default ``llama3.2``).
Closing the stream closes the HTTP response, and Ollama stops generating when its client goes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from luminad.errors import LlmUnavailable
from luminad.protocol import EngineHealth
from luminad.providers.base import ChatMessage

START_ACTION = "Start Ollama: `ollama serve` (or set LUMINA_LLM=embedded)."


def pull_action(model: str) -> str:
    return f"Pull the model: `ollama pull {model}` (or set LUMINA_LLM_MODEL to a model you have)."


def _same_model(wanted: str, have: str) -> bool:
    base = wanted if ":" in wanted else f"{wanted}:latest"
    return have in (wanted, base)


def probe_ollama(host: str, model: str, timeout: float = 1.5) -> tuple[bool, bool, list[str], str]:
    """Synchronous probe: (reachable, has model, model names, detail). Used by ``auto``."""
    try:
        with httpx.Client(base_url=host, timeout=timeout, trust_env=False) as client:
            response = client.get("/api/tags")
            response.raise_for_status()
            names = [
                str(m.get("model") or m.get("name")) for m in response.json().get("models", [])
            ]
    except (httpx.HTTPError, ValueError) as exc:
        return False, False, [], f"Ollama not reachable at {host} ({type(exc).__name__})"
    has = any(_same_model(model, n) for n in names)
    detail = f"Ollama at {host} has {model}" if has else f"Ollama at {host} lacks {model}"
    return True, has, names, detail


class OllamaChat:
    """:class:`~luminad.providers.base.ChatModel` for an Ollama server."""

    name = "ollama"

    def __init__(self, host: str, model: str, *, temperature: float = 0.3) -> None:
        self.host = host
        self.model = model
        self.temperature = temperature

    async def stream_chat(
        self, messages: Sequence[ChatMessage], *, max_tokens: int = 200
    ) -> AsyncIterator[str]:
        import ollama

        client = ollama.AsyncClient(host=self.host, trust_env=False)
        stream: Any = None
        try:
            stream = await client.chat(
                model=self.model,
                messages=[{"role": m.role, "content": m.content} for m in messages],
                stream=True,
                options={"num_predict": max_tokens, "temperature": self.temperature},
            )
            async for part in stream:
                content = part.message.content if part.message else None
                if content:
                    yield content
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise LlmUnavailable(
                    f"Ollama has no model {self.model!r}", action=pull_action(self.model)
                ) from exc
            raise LlmUnavailable(f"Ollama failed: {exc.error}", action=START_ACTION) from exc
        except (httpx.HTTPError, ConnectionError) as exc:
            raise LlmUnavailable(
                f"Ollama not reachable at {self.host}: {type(exc).__name__}", action=START_ACTION
            ) from exc
        finally:
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.aclose()  # closes the HTTP response: the server stops
            with contextlib.suppress(Exception):
                await client._client.aclose()

    async def health(self) -> EngineHealth:
        import asyncio

        reachable, has, names, detail = await asyncio.to_thread(probe_ollama, self.host, self.model)
        action = None if has else (pull_action(self.model) if reachable else START_ACTION)
        if reachable and not has and names:
            detail += f" (has: {', '.join(names[:5])})"
        return EngineHealth(
            ok=reachable and has,
            configured=True,
            reachable=reachable,
            model=self.model,
            detail=detail,
            action=action,
        )
