"""The embedded llama.cpp model as a PydanticAI ``Model``, with tool calling.

PydanticAI's messages become chat messages (instructions first as the system message, tool
calls and tool results kept), the offered tools become OpenAI-shaped schemas that the GGUF's
chat template renders (Qwen2.5's template has a tools section), and the streamed text is split
by :class:`ToolCallParser` into spoken text and ``<tool_call>{"name": …, "arguments": …}
</tool_call>`` blocks, which become PydanticAI ``ToolCallPart``s: the agent runs the tool and
asks again with its result. Closing the response stream stops llama.cpp within a token.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic_ai.messages import (
    InstructionPart,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponseStreamEvent,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.settings import ModelSettings

from luminad.providers.base import ChatMessage, ToolCall

if TYPE_CHECKING:
    from pydantic_ai._run_context import RunContext

    from luminad.providers.llamacpp import EmbeddedLLM

log = logging.getLogger(__name__)

OPEN, CLOSE = "<tool_call>", "</tool_call>"
#: After a round of tools the model must speak: no call, no markup, one paragraph. (Small
#: models otherwise call the same tool again and again.) The tool schemas stay in the prompt,
#: so llama.cpp's cached prefix still holds.
SPOKEN_ONLY = r"root ::= [^<{`*#\n] [^<{`*#\n]*"
_FENCE = re.compile(r"^\s*```(?:json)?|```\s*$")
DEFAULT_MAX_TOKENS = 200


# ---------------------------------------------------------------------- tool-call parsing
@dataclass
class ToolCallParser:
    """Splits streamed model text into spoken text and tool calls.

    A call is a ``<tool_call>{json}</tool_call>`` block (Qwen's template asks for it), or, as
    small models also write, a reply that is nothing but the JSON object (maybe in a code
    fence): a reply that starts with ``{`` or a fence is held back and read as a whole at the
    end. :meth:`feed` returns the text that can be spoken now and the calls completed so far;
    text that might be the start of ``<tool_call>`` is held back until the next delta says.
    :meth:`finish` flushes the rest (a call cut off by the token limit is parsed if its JSON is
    whole). A call that cannot be read is dropped: it is never spoken.
    """

    _pending: str = ""
    _in_call: bool = False
    _started: bool = False
    _bare: bool = False
    calls: list[ToolCall] = field(default_factory=list)

    def feed(self, delta: str) -> tuple[str, list[ToolCall]]:
        self._pending += delta
        if not self._started:
            head = self._pending.lstrip()
            if not head or (len(head) < 3 and "```".startswith(head)):
                return "", []  # too early to tell a reply from a bare call
            self._started = True
            self._bare = head.startswith(("{", "```"))
        if self._bare:
            return "", []
        text: list[str] = []
        found: list[ToolCall] = []
        while True:
            if self._in_call:
                end = self._pending.find(CLOSE)
                if end < 0:
                    break
                call = _parse_call(self._pending[:end])
                if call is not None:
                    found.append(call)
                self._pending = self._pending[end + len(CLOSE) :]
                self._in_call = False
                continue
            start = self._pending.find(OPEN)
            if start >= 0:
                text.append(self._pending[:start])
                self._pending = self._pending[start + len(OPEN) :]
                self._in_call = True
                continue
            keep = _partial_suffix(self._pending, OPEN)
            text.append(self._pending[: len(self._pending) - keep])
            self._pending = self._pending[len(self._pending) - keep :]
            break
        self.calls.extend(found)
        return "".join(text), found

    def finish(self) -> tuple[str, list[ToolCall]]:
        rest, self._pending = self._pending, ""
        if self._bare:
            block = _FENCE.sub("", rest).strip()
            call = next(
                (c for c in map(_parse_call, (block, block + "}", block + "}}")) if c), None
            )  # a small model may leave off a closing brace
            if call is None:
                # a call we cannot read is never spoken; anything else was a reply after all
                return ("", []) if block.startswith('{"name"') else (rest, [])
            self.calls.append(call)
            return "", [call]
        if not self._in_call:
            return rest, []
        self._in_call = False
        call = _parse_call(rest)
        found = [call] if call is not None else []
        self.calls.extend(found)
        return "", found


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest end of ``text`` that is a proper start of ``marker``."""
    for n in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-n:]):
            return n
    return 0


def _parse_call(block: str) -> ToolCall | None:
    try:
        data = json.loads(block.strip())
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        log.info("dropped a tool call without a name")
        return None
    args = data.get("arguments", data.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            args = {}
    return ToolCall(name=data["name"], arguments=args if isinstance(args, dict) else {})


# ---------------------------------------------------------------------- message conversion
def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return " ".join(c for c in content if isinstance(c, str))
    return str(content)


def chat_messages(messages: Sequence[ModelMessage], instructions: str | None) -> list[ChatMessage]:
    """PydanticAI's messages as chat messages: one leading system message, then the turns.

    Small models follow a single leading system prompt best; a system part later in the run
    (PydanticAI's own notes) stays where it is.
    """
    head: list[str] = [instructions] if instructions else []
    out: list[ChatMessage] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, SystemPromptPart) and part.content:
                    if out:
                        out.append(ChatMessage("system", part.content))
                    else:
                        head.append(part.content)
                elif isinstance(part, UserPromptPart):
                    out.append(ChatMessage("user", _text_of(part.content)))
                elif isinstance(part, ToolReturnPart):
                    out.append(ChatMessage("tool", part.model_response_str()))
        elif isinstance(message, ModelResponse):
            text = "".join(p.content for p in message.parts if isinstance(p, TextPart))
            calls = tuple(
                ToolCall(p.tool_name, p.args_as_dict(), p.tool_call_id)
                for p in message.parts
                if isinstance(p, ToolCallPart)
            )
            if text or calls:
                out.append(ChatMessage("assistant", text, calls))
    return ([ChatMessage("system", "\n".join(head))] if head else []) + out


def tool_schemas(params: ModelRequestParameters) -> list[dict[str, Any]]:
    """The offered tools in OpenAI's shape, as chat templates read them."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description or "",
                "parameters": t.parameters_json_schema,
            },
        }
        for t in [*params.function_tools, *params.output_tools]
    ]


# ---------------------------------------------------------------------- the model
class LlamaCppModel(Model):
    """A PydanticAI ``Model`` answering with the in-process :class:`EmbeddedLLM`."""

    def __init__(self, llm: EmbeddedLLM, *, settings: ModelSettings | None = None) -> None:
        super().__init__(settings=settings)
        self.llm = llm

    @property
    def model_name(self) -> str:
        return self.llm.model

    @property
    def system(self) -> str:
        return "llama.cpp"

    def _tokens(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        params: ModelRequestParameters,
    ) -> tuple[AsyncGenerator[str], ModelRequestParameters]:
        """The model's token stream for a request (not started until iterated)."""
        model_settings, params = self.prepare_request(model_settings, params)
        parts = self._get_instruction_parts(messages, params)
        instructions = InstructionPart.join(parts) if parts else None
        settings = model_settings or {}
        last = messages[-1] if messages else None
        answered = isinstance(last, ModelRequest) and any(
            isinstance(p, ToolReturnPart) for p in last.parts
        )
        tokens = self.llm.stream_tokens(
            chat_messages(messages, instructions),
            tools=tool_schemas(params),
            max_tokens=int(settings.get("max_tokens") or DEFAULT_MAX_TOKENS),
            grammar=SPOKEN_ONLY if answered else None,
            temperature=settings.get("temperature"),
        )
        return tokens, params

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        tokens, _ = self._tokens(messages, model_settings, model_request_parameters)
        parser = ToolCallParser()
        text: list[str] = []
        async with aclosing(tokens) as s:
            async for delta in s:
                text.append(parser.feed(delta)[0])
        text.append(parser.finish()[0])
        parts: list[TextPart | ToolCallPart] = []
        if "".join(text).strip():
            parts.append(TextPart("".join(text)))
        parts += [ToolCallPart(c.name, dict(c.arguments)) for c in parser.calls]
        return ModelResponse(parts=parts, model_name=self.model_name)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncGenerator[StreamedResponse]:
        tokens, params = self._tokens(messages, model_settings, model_request_parameters)
        async with aclosing(tokens):
            yield LlamaCppStreamedResponse(
                model_request_parameters=params, _model_name=self.model_name, _tokens=tokens
            )


@dataclass
class LlamaCppStreamedResponse(StreamedResponse):
    """Streams text parts as they come; each completed ``<tool_call>`` becomes a tool call part."""

    _model_name: str
    _tokens: AsyncGenerator[str]
    _timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        parser = ToolCallParser()
        n_calls = 0
        async for delta in self._tokens:
            text, calls = parser.feed(delta)
            for event in self._events(text, calls, n_calls):
                yield event
            n_calls += len(calls)
        text, calls = parser.finish()
        for event in self._events(text, calls, n_calls):
            yield event

    def _events(
        self, text: str, calls: list[ToolCall], first: int
    ) -> list[ModelResponseStreamEvent]:
        events: list[ModelResponseStreamEvent] = []
        if text:
            events += self._parts_manager.handle_text_delta(vendor_part_id="text", content=text)
        for i, call in enumerate(calls, first):
            events.append(
                self._parts_manager.handle_tool_call_part(
                    vendor_part_id=f"call-{i}", tool_name=call.name, args=dict(call.arguments)
                )
            )
        return events

    async def close_stream(self) -> None:
        await self._tokens.aclose()

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def provider_name(self) -> str:
        return "llama.cpp"

    @property
    def provider_url(self) -> None:
        return None

    @property
    def timestamp(self) -> datetime:
        return self._timestamp
