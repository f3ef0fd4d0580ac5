"""Any OpenAI-compatible server (vLLM, llama.cpp's server, LM Studio…) through PydanticAI's
``OpenAIChatModel`` + ``OpenAIProvider`` (streaming, native tool calling).

``settings.openai_base_url`` (e.g. ``http://127.0.0.1:8000/v1``), ``settings.llm_model`` and
``settings.openai_api_key``. Closing a reply stream closes the HTTP response, which makes the
server stop generating. The health probe lists the server's models.
"""

from __future__ import annotations

import asyncio
from typing import Any, Self

import openai
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.profiles.openai import OpenAIModelProfile
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings

from luminad.errors import LlmUnavailable
from luminad.protocol import EngineHealth

#: Local servers (llama.cpp's, older vLLM and Ollama) read ``max_tokens``, not OpenAI's newer
#: ``max_completion_tokens``: without this a reply is not bounded.
MAX_TOKENS_FIELD = OpenAIModelProfile(openai_chat_supports_max_completion_tokens=False)


def openai_client(base_url: str, api_key: str, timeout: float = 120.0) -> openai.AsyncOpenAI:
    """An OpenAI SDK client that fails at once (no retries) when the server is not there."""
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout)


def _start_action(base_url: str) -> str:
    return (
        f"Start your OpenAI-compatible server (vLLM, `python -m llama_cpp.server`) at {base_url}, "
        "or set LUMINA_LLM=embedded."
    )


class OpenAICompatLLM:
    """:class:`~luminad.providers.base.ChatModel` for an OpenAI-compatible endpoint."""

    name = "openai"
    tool_calling = True

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "not-needed",
        temperature: float = 0.3,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.temperature = temperature
        #: Server-specific request fields (vLLM/llama.cpp sampling options, logit_bias...).
        self.extra_body = extra_body or {}

    def agent_model(self) -> OpenAIChatModel:
        settings: ModelSettings = {"temperature": self.temperature}
        if self.extra_body:
            settings["extra_body"] = self.extra_body
        client = openai_client(self.base_url, self.api_key)
        provider = OpenAIProvider(openai_client=client)
        return OpenAIChatModel(
            self.model, provider=provider, settings=settings, profile=MAX_TOKENS_FIELD
        )

    def aside(self) -> Self:
        return self  # the server keeps its own caches

    def failure(self, exc: Exception) -> LlmUnavailable:
        if isinstance(exc, ModelHTTPError) and exc.status_code == 404:
            return LlmUnavailable(
                f"the server at {self.base_url} has no model {self.model!r}",
                action="Set LUMINA_LLM_MODEL to a model the server serves.",
            )
        if isinstance(exc, ModelHTTPError):
            return LlmUnavailable(f"OpenAI-compatible server failed: HTTP {exc.status_code}")
        return LlmUnavailable(
            f"OpenAI-compatible server not reachable at {self.base_url}",
            action=_start_action(self.base_url),
        )

    async def list_models(self) -> list[str]:
        client = openai_client(self.base_url, self.api_key, timeout=3.0)
        try:
            page = await client.models.list()
            return [m.id for m in page.data]
        finally:
            await client.close()

    async def health(self) -> EngineHealth:
        try:
            models = await asyncio.wait_for(self.list_models(), 5.0)
        except (openai.APIError, TimeoutError) as exc:
            return EngineHealth(
                ok=False,
                configured=True,
                reachable=False,
                model=self.model,
                detail=f"not reachable at {self.base_url} ({type(exc).__name__})",
                action=_start_action(self.base_url),
            )
        has = self.model in models
        return EngineHealth(
            ok=has,
            configured=True,
            reachable=True,
            model=self.model,
            detail=f"{self.base_url} serves {', '.join(models[:5]) or 'no models'}",
            action=None if has else "Set LUMINA_LLM_MODEL to a model the server serves.",
        )
