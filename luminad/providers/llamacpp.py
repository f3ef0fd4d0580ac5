"""The embedded LLM: llama-cpp-python in-process (Qwen2.5 0.5B by default, see :mod:`.gguf_files`).

The prompt is rendered by the GGUF's own chat template (llama-cpp-python's Jinja formatter), with
the tool schemas when the agent offers tools: Qwen's template has a tools section and the model
answers a call as ``<tool_call>{json}</tool_call>`` (parsed by :mod:`.llamacpp_model`, which
makes this engine a PydanticAI ``Model``). llama.cpp keeps the evaluated prefix of the last
prompt, so a stable system prompt + tools is evaluated once per session (the voice session
primes it), and each reply evaluates only its new turn: when the history window moves on, the
cache is shifted instead of evaluated again (:mod:`.llama_cache`), and requests beside the
conversation (the implicit-fact extraction) run on a second, small context (:meth:`aside`).

Threads: a reply takes every core when no other process keeps one busy
(:class:`~luminad.providers.threads.CpuWatch`) and, token by token, while no other engine of
this process computes (:data:`~luminad.providers.threads.CORES`): the prompt evaluation and the
first spoken chunk run alone (STT is done, TTS waits for that chunk); from the moment TTS speaks
it, or a transcription pass runs, the next tokens are written on the LLM's share
(:func:`~luminad.providers.threads.engine_threads`), and on every core again once they are done.

Generation runs in a worker thread holding the model's lock; a stop flag is checked for every
token (llama.cpp generates lazily, one token per step), so closing or cancelling the stream
really stops the model within a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from luminad.errors import LlmUnavailable
from luminad.protocol import EngineHealth
from luminad.providers.base import ChatMessage
from luminad.providers.llama_cache import PromptReuse
from luminad.providers.threads import CORES, ThreadBurst, burst_threads, engine_threads

if TYPE_CHECKING:
    from luminad.providers.llamacpp_model import LlamaCppModel

_DONE = object()
#: Context of the second model instance for requests beside the conversation (tokens).
ASIDE_CTX = 1024
#: A tool schema in OpenAI's shape (``{"type": "function", "function": {...}}``).
ToolSchema = Mapping[str, Any]


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


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
        offer_tools: bool = False,
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
        #: Offer the agent's tools to this model (``LUMINA_EMBEDDED_TOOLS``).
        self.offer_tools = offer_tools
        self.temperature = temperature
        self.n_ctx = n_ctx
        self.threads = engine_threads(threads)
        #: Threads of the prompt evaluation: every core when the machine is quiet.
        self.batch = ThreadBurst(self.threads, burst_threads(threads))
        #: Threads set for the token steps and the prompt evaluation.
        self.last_gen_threads = self.threads
        self.last_batch_threads = self.threads
        self._lock = threading.Lock()
        #: Tokens produced since start (all streams); tests use it to prove cancel stops work.
        self.tokens_generated = 0
        #: Optional token-id -> bias (e.g. to ban end-of-turn tokens in tests and benchmarks).
        self.logit_bias: dict[int, float] | None = None
        self._grammars: dict[str, Any] = {}
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
        self._reuse = PromptReuse(self._llm)
        self._aside: EmbeddedLLM | None = None
        self._aside_lock = threading.Lock()

    @property
    def template_has_tools(self) -> bool:
        """True when the GGUF's chat template renders tool schemas (Qwen's does, SmolLM2's not)."""
        template = str(self._llm.metadata.get("tokenizer.chat_template", ""))
        return "tools" in template and "<tool_call>" in template

    @property
    def tool_calling(self) -> bool:
        """Whether the agent offers its tools: asked for, and the template can render them.

        Off by default: Qwen2.5 0.5B calls the right tool for clear commands but also calls
        ``remember`` on "Hello." and "What is my name?" and invents tools, and the schemas
        lengthen every prompt; the local intents do the commands and the implicit-fact
        prompt keeps what the user tells."""
        return self.offer_tools and self.template_has_tools

    def agent_model(self) -> LlamaCppModel:
        """This engine as a PydanticAI ``Model`` (tool calls through the chat template)."""
        from luminad.providers.llamacpp_model import LlamaCppModel

        return LlamaCppModel(self)

    def aside(self) -> EmbeddedLLM:
        """The same GGUF on a second context of :data:`ASIDE_CTX` tokens, loaded on first use
        (blocking, ~1 s): its requests leave this context's evaluated conversation alone. The
        weights are the same memory-mapped file; the context costs ~95 MB (Qwen 0.5B)."""
        with self._aside_lock:
            if self._aside is None:
                self._aside = EmbeddedLLM(
                    self.model_path,
                    n_ctx=ASIDE_CTX,
                    threads=self.threads,
                    temperature=self.temperature,
                )
            return self._aside

    def failure(self, exc: Exception) -> LlmUnavailable:
        return LlmUnavailable(f"embedded model failed: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ sync core
    def _fit(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSchema], max_tokens: int
    ) -> list[dict[str, Any]]:
        """Drop the oldest non-system turns until the prompt fits the context window."""
        msgs = [m.template_dict() for m in messages]
        budget = self.n_ctx - max_tokens - 16
        budget -= len(self._llm.tokenize(json.dumps(list(tools)).encode(), add_bos=False))
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
        tools: Sequence[ToolSchema] = (),
        max_tokens: int = 200,
        stop: threading.Event | None = None,
        grammar: str | None = None,
        temperature: float | None = None,
    ) -> Iterator[str]:
        """Blocking token stream (holds the model lock). Set ``stop`` to end it at once;
        ``grammar`` (GBNF) constrains what the model may write; ``temperature`` overrides the
        engine's for this request."""
        stop = stop or threading.Event()
        with self._lock, CORES.running(self):
            if stop.is_set():
                return
            batch = self.batch.pick(burst=True)
            first = self._share(batch)
            self._set_threads(first, first)
            fitted = self._fit(messages, tools, max_tokens)
            self._reuse.prepare(fitted, tools)
            stream = self._llm.create_chat_completion(
                messages=fitted,
                tools=list(tools) or None,
                stream=True,
                max_tokens=max_tokens,
                temperature=self.temperature if temperature is None else temperature,
                top_p=0.9,
                repeat_penalty=1.1,
                logit_bias=self.logit_bias,
                grammar=self._grammar(grammar),
            )
            try:
                for chunk in stream:
                    delta = chunk["choices"][0].get("delta", {}).get("content")
                    if delta is not None:  # a token (role/finish chunks carry no content)
                        self.tokens_generated += 1
                    # the next token: every core while nothing else of the process computes
                    self._set_threads(self._share(batch), batch)
                    if stop.is_set():
                        break
                    if delta:
                        yield delta
            finally:
                with contextlib.suppress(Exception):
                    stream.close()

    def _share(self, burst: int) -> int:
        """Threads for the next step: ``burst`` while no other engine of the process computes,
        else this engine's share."""
        return burst if CORES.alone(self) else self.threads

    def _set_threads(self, generation: int, batch: int) -> None:
        """Threads of the next token steps and of the next prompt evaluation (between steps:
        the caller holds the model lock)."""
        if (generation, batch) != (self.last_gen_threads, self.last_batch_threads):
            with contextlib.suppress(Exception):
                self._llm._ctx.set_n_threads(generation, batch)
                self.last_gen_threads, self.last_batch_threads = generation, batch

    def _grammar(self, text: str | None) -> Any:
        if text is None:
            return None
        if text not in self._grammars:
            from llama_cpp.llama_grammar import LlamaGrammar

            with open("/dev/null", "w") as devnull, contextlib.redirect_stderr(devnull):
                self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    # ------------------------------------------------------------------ async API
    async def stream_tokens(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSchema] = (),
        max_tokens: int = 200,
        grammar: str | None = None,
        temperature: float | None = None,
    ) -> AsyncGenerator[str]:
        """Text deltas as the model writes them; closing/cancelling stops the model."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def put(item: object) -> None:
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def produce() -> None:
            try:
                for delta in self.generate_sync(
                    messages,
                    tools=tools,
                    max_tokens=max_tokens,
                    stop=stop,
                    grammar=grammar,
                    temperature=temperature,
                ):
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

    def close(self) -> None:
        if self._aside is not None:
            self._aside.close()
        with self._lock, contextlib.suppress(Exception):
            self._llm.close()
