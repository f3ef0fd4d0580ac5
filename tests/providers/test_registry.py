from __future__ import annotations

from collections.abc import Iterator

import pytest

from luminad.errors import LuminaError
from luminad.providers.base import Progress
from luminad.providers.registry import (
    AutoChat,
    Engines,
    check_health,
    load_engines,
    load_llm,
    prepare_models,
)
from luminad.providers.speech_setup import MAX_VERIFY_WER
from luminad.settings import Settings


@pytest.fixture(scope="module")
def engines(shared_settings: Settings) -> Iterator[Engines]:
    # auto with no Ollama running (port 9 is closed) -> the embedded model
    settings = shared_settings.replace(llm="auto", ollama_host="http://127.0.0.1:9")
    progress = Progress()
    loaded = load_engines(settings, progress)
    stages = {stage for stage, _, _ in progress.events}
    assert {"tts", "stt", "llm", "embeddings"} <= stages
    yield loaded
    loaded.close()


def test_prepare_models_is_idempotent(shared_settings: Settings) -> None:
    progress = Progress()
    assert prepare_models(shared_settings, progress) == 0
    assert prepare_models(shared_settings, progress) == 0
    stamp = shared_settings.models_cache_dir / "ggml-tiny.en-q8_0.bin.verified.json"
    assert stamp.is_file()


def test_auto_falls_back_to_embedded(engines: Engines) -> None:
    assert isinstance(engines.llm, AutoChat)
    assert engines.llm.name == "embedded"
    assert "not reachable" in engines.llm_choice


async def test_health_reports_every_engine(engines: Engines) -> None:
    health = await check_health(engines)
    assert health.ok, health
    assert set(health.engines) >= {"stt", "llm", "tts", "embeddings"}
    assert health.engines["stt"].model == "tiny.en"
    assert "auto -> embedded" in health.engines["llm"].detail
    assert health.deep_wer is None


async def test_deep_health_speaks_listens_and_times(engines: Engines) -> None:
    health = await check_health(engines, deep=True)
    assert health.ok, health
    # Piper said the fixed sentence and whisper heard it back, within model verification's bar
    assert health.deep_wer is not None and health.deep_wer <= MAX_VERIFY_WER, health.engines["stt"]
    assert health.engines["stt"].timings_ms["stt_ms"] > 0
    assert health.engines["tts"].timings_ms["tts_first_chunk_ms"] > 0
    assert health.engines["llm"].timings_ms["llm_tokens"] >= 1
    assert health.engines["embeddings"].timings_ms["embed_ms"] > 0


async def test_unreachable_ollama_health_has_an_action(shared_settings: Settings) -> None:
    llm, _ = load_llm(shared_settings.replace(llm="ollama", ollama_host="http://127.0.0.1:9"))
    h = await llm.health()
    assert not h.ok and not h.reachable
    assert h.action is not None and "ollama serve" in h.action


async def test_unreachable_openai_health_has_an_action(shared_settings: Settings) -> None:
    llm, _ = load_llm(
        shared_settings.replace(llm="openai", openai_base_url="http://127.0.0.1:9/v1")
    )
    h = await llm.health()
    assert not h.ok and h.action is not None and "llama_cpp.server" in h.action


def test_unknown_provider(shared_settings: Settings) -> None:
    with pytest.raises(LuminaError) as exc:
        load_llm(shared_settings.replace(llm="gpt-9"))
    assert exc.value.action


def test_prepare_models_reports_clear_errors(
    shared_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = shared_settings.replace(stt_model="/nope/ggml-missing.bin", embedded_model="/nope/x.gguf")
    assert prepare_models(bad, Progress()) == 1
    err = capsys.readouterr().err
    assert "error: STT:" in err and "LUMINA_STT_MODEL" in err
    assert "error: LLM:" in err and "LUMINA_EMBEDDED_MODEL" in err
