"""Shared fixtures for the engine tests: real models, converted once into the shared cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from luminad.providers.whisper import WhisperSTT, ensure_ggml, whisper_source
from luminad.settings import Settings, load_settings


@pytest.fixture(scope="session")
def shared_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with a private home and the shared cache dir (converted models)."""
    home = tmp_path_factory.mktemp("lumina-home")
    return load_settings(
        {"LUMINA_HOME": str(home), "LUMINA_CACHE_DIR": str(load_settings({}).cache_dir)}
    )


@pytest.fixture(scope="session")
def tiny_stt(shared_settings: Settings) -> Iterator[WhisperSTT]:
    path = ensure_ggml(whisper_source(shared_settings))
    stt = WhisperSTT(path, model="tiny.en", threads=2)
    yield stt
    stt.close()


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")
