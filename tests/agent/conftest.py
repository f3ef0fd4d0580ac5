from __future__ import annotations

from collections.abc import Iterator

import pytest

from luminad import protocol
from luminad.providers.llamacpp import EmbeddedLLM, bundled_gguf_path


@pytest.fixture(scope="session")
def embedded_llm() -> Iterator[EmbeddedLLM]:
    llm = EmbeddedLLM(bundled_gguf_path(), temperature=0.0)
    yield llm
    llm.close()


@pytest.fixture
def lumina_avatar() -> protocol.Avatar:
    return protocol.Avatar(id="a1", name="Lumina", persona="", style="", voice="joe", builtin=True)
