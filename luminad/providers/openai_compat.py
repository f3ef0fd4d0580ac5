"""Chat through any OpenAI-compatible server (vLLM, llama.cpp's server, LM Studio...).

``settings.openai_base_url`` (e.g. ``http://127.0.0.1:8000/v1``), ``settings.llm_model`` and
``settings.openai_api_key``. Streams ``/chat/completions``; closing the stream closes the HTTP
response, which makes the server stop generating.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from luminad.errors import LlmUnavailable
from luminad.protocol import EngineHealth
from luminad.providers.base import ChatMessage


def _start_action(base_url: str) -> str:
    return (
        f"Start your OpenAI-compatible server (vLLM, `python -m llama_cpp.server`) at {base_url}, "
        "or set LUMINA_LLM=embedded."
    )


class OpenAIChat:
    """:class:`~luminad.providers.base.ChatModel` for an OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "not-needed",
        temperature: float = 0.3,
        extra_body: dict[str, object] | None = None,
    ) -> None:
        #: Server-specific request fields (vLLM/llama.cpp sampling options, logit_bias...).
        self.extra_body = extra_body or {}
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.temperature = temperature

    def _client(self, timeout: float = 120.0) -> Any:
        import openai

        return openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self.api_key, max_retries=0, timeout=timeout
        )

    async def stream_chat(
        self, messages: Sequence[ChatMessage], *, max_tokens: int = 200
    ) -> AsyncIterator[str]:
        import openai

        client = self._client()
        stream: Any = None
        try:
            stream = await client.chat.completions.create(
                model=self.model,
                messages=[{"role": m.role, "content": m.content} for m in messages],
                stream=True,
                max_tokens=max_tokens,
                temperature=self.temperature,
                extra_body=self.extra_body or None,
            )
            async for chunk in stream:
                if chunk.choices:
                    content = chunk.choices[0].delta.content
                    if content:
                        yield content
        except openai.NotFoundError as exc:
            raise LlmUnavailable(
                f"the server at {self.base_url} has no model {self.model!r}",
                action="Set LUMINA_LLM_MODEL to a model the server serves.",
            ) from exc
        except openai.APIConnectionError as exc:
            raise LlmUnavailable(
                f"OpenAI-compatible server not reachable at {self.base_url}",
                action=_start_action(self.base_url),
            ) from exc
        except openai.APIError as exc:
            raise LlmUnavailable(f"OpenAI-compatible server failed: {exc}") from exc
        finally:
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.close()  # drops the connection: the server stops generating
            with contextlib.suppress(Exception):
                await client.close()

    async def list_models(self) -> list[str]:
        client = self._client(timeout=3.0)
        try:
            page = await client.models.list()
            return [m.id for m in page.data]
        finally:
            await client.close()

    async def health(self) -> EngineHealth:
        import openai

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
