"""Which chat model ``LUMINA_LLM`` names (``auto``, ``embedded``, ``ollama``, ``openai``).

``auto`` uses Ollama when it is running with the configured model and the embedded llama.cpp
model otherwise; :class:`AutoChat` keeps the reason for health.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from luminad.errors import LlmUnavailable, LuminaError
from luminad.protocol import EngineHealth
from luminad.providers.base import ChatModel, ProgressFn, close_engine, no_progress
from luminad.settings import Settings

if TYPE_CHECKING:
    from pydantic_ai.models import Model


class AutoChat:
    """``LUMINA_LLM=auto``: the chosen provider, plus why it was chosen (for health)."""

    def __init__(self, inner: ChatModel, reason: str) -> None:
        self.inner = inner
        self.reason = reason
        self.name = inner.name
        self.model = inner.model
        #: The chosen model's sampling temperature (recorded with each reply).
        self.temperature: float | None = getattr(inner, "temperature", None)

    @property
    def tool_calling(self) -> bool:
        return self.inner.tool_calling

    def agent_model(self) -> Model:
        return self.inner.agent_model()

    def aside(self) -> ChatModel:
        return self.inner.aside()

    def failure(self, exc: Exception) -> LlmUnavailable:
        return self.inner.failure(exc)

    async def health(self) -> EngineHealth:
        h = await self.inner.health()
        return msgspec.structs.replace(
            h, detail=f"auto -> {self.inner.name}: {self.reason}; {h.detail}"
        )

    def close(self) -> None:
        close_engine(self.inner)


def load_embedded(settings: Settings, progress: ProgressFn = no_progress) -> ChatModel:
    """The embedded llama.cpp model of ``settings.embedded_model`` (assembled on first use)."""
    from luminad.providers.gguf_files import resolve_gguf
    from luminad.providers.llamacpp import EmbeddedLLM

    path = resolve_gguf(settings.embedded_model, settings.models_cache_dir, progress)
    return EmbeddedLLM(path, threads=settings.stt_threads, offer_tools=settings.embedded_tools)


def load_llm(settings: Settings, progress: ProgressFn = no_progress) -> tuple[ChatModel, str]:
    """The chat model of ``settings.llm`` and a sentence saying what was chosen."""
    choice = settings.llm.strip().lower()
    if choice == "embedded":
        progress("llm", None, "loading the embedded model")
        llm = load_embedded(settings, progress)
        return llm, f"embedded {llm.model}"
    if choice == "ollama":
        from luminad.providers.ollama import OllamaLLM

        return OllamaLLM(settings.ollama_host, settings.llm_model), f"ollama {settings.ollama_host}"
    if choice == "openai":
        from luminad.providers.openai_compat import OpenAICompatLLM

        llm_o = OpenAICompatLLM(
            settings.openai_base_url, settings.llm_model, api_key=settings.openai_api_key
        )
        return llm_o, f"openai {settings.openai_base_url}"
    if choice != "auto":
        raise LuminaError(
            f"unknown LLM provider {settings.llm!r}",
            action="Set LUMINA_LLM to auto, embedded, ollama or openai.",
        )
    from luminad.providers.ollama import OllamaLLM, probe_ollama

    progress("llm", None, f"looking for Ollama at {settings.ollama_host}")
    _reachable, has, _names, detail = probe_ollama(settings.ollama_host, settings.llm_model)
    if has:
        return AutoChat(OllamaLLM(settings.ollama_host, settings.llm_model), detail), detail
    progress("llm", None, f"{detail}: loading the embedded model")
    reason = f"{detail}, using the embedded model"
    return AutoChat(load_embedded(settings, progress), reason), reason
