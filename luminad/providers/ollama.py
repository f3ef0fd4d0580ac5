"""An Ollama server through PydanticAI's ``OpenAIChatModel`` + ``OllamaProvider``.

Ollama serves OpenAI's chat API under ``/v1`` (streaming, native tool calling); the health
probe reads ``/api/tags`` to say whether the model is pulled. ``settings.ollama_host`` (or
``OLLAMA_HOST``) and ``settings.llm_model`` (default ``llama3.2``). Closing a reply stream
closes the HTTP response, and Ollama stops generating when its client goes.
"""

from __future__ import annotations

import asyncio
from typing import Self

import httpx
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.ollama import OllamaProvider

from luminad.errors import LlmUnavailable
from luminad.protocol import EngineHealth
from luminad.providers.openai_compat import MAX_TOKENS_FIELD, openai_client

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


class OllamaLLM:
    """:class:`~luminad.providers.base.ChatModel` for an Ollama server (tools offered)."""

    name = "ollama"
    tool_calling = True

    def __init__(self, host: str, model: str, *, temperature: float = 0.3) -> None:
        self.host = host.rstrip("/")
        self.model = model
        self.temperature = temperature

    def agent_model(self) -> OpenAIChatModel:
        client = openai_client(f"{self.host}/v1", "ollama")
        return OpenAIChatModel(
            self.model,
            provider=OllamaProvider(openai_client=client),
            settings={"temperature": self.temperature},
            profile=MAX_TOKENS_FIELD,
        )

    def aside(self) -> Self:
        return self  # the server keeps its own caches

    def failure(self, exc: Exception) -> LlmUnavailable:
        if isinstance(exc, ModelHTTPError) and exc.status_code == 404:
            return LlmUnavailable(
                f"Ollama has no model {self.model!r}", action=pull_action(self.model)
            )
        if isinstance(exc, ModelHTTPError):
            return LlmUnavailable(f"Ollama failed: HTTP {exc.status_code}", action=START_ACTION)
        return LlmUnavailable(
            f"Ollama not reachable at {self.host}: {type(exc).__name__}", action=START_ACTION
        )

    async def health(self) -> EngineHealth:
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
