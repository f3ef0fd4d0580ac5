"""A small local server speaking Ollama's HTTP API, backed by the embedded model.

No Ollama server exists in the package registries, so the ``ollama`` provider is tested against
this: ``GET /api/version``, ``GET /api/tags`` (the health probe) and Ollama's OpenAI-compatible
``POST /v1/chat/completions`` (server-sent events, or one JSON object with ``"stream": false``),
which PydanticAI's ``OllamaProvider`` talks to. Tool schemas go to the model's chat template and
its ``<tool_call>`` blocks come back as OpenAI ``tool_calls``, as Ollama does. It stops
generating as soon as the client disconnects, like Ollama. Usage::

    with OllamaStub(EmbeddedLLM(smollm2_path())) as stub:
        settings = settings.replace(llm="ollama", ollama_host=stub.url)
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from luminad.providers.base import ChatMessage, ToolCall
from luminad.providers.llamacpp import EmbeddedLLM
from luminad.providers.llamacpp_model import ToolCallParser


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _peer_closed(sock: socket.socket) -> bool:
    """True when the client has gone (readable with EOF, or reset)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _chat_message(m: dict[str, Any]) -> ChatMessage:
    calls = tuple(
        ToolCall(c["function"]["name"], json.loads(c["function"].get("arguments") or "{}"),
                 c.get("id", ""))
        for c in m.get("tool_calls") or ()
    )  # fmt: skip
    content = m.get("content") or ""
    if not isinstance(content, str):  # a list of content parts
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ChatMessage(m["role"], content, calls)


def _openai_call(index: int, call: ToolCall) -> dict[str, Any]:
    function = {"name": call.name, "arguments": json.dumps(dict(call.arguments))}
    return {"index": index, "id": f"call_{index}", "type": "function", "function": function}


class OllamaStub:
    """Serves ``models`` (names as Ollama lists them, e.g. ``llama3.2:latest``) on loopback."""

    def __init__(self, llm: EmbeddedLLM, models: tuple[str, ...] = ("llama3.2:latest",)) -> None:
        self.llm = llm
        self.models = models
        self.requests: list[dict[str, Any]] = []
        self.disconnects = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/api/version":
                    self._json(200, {"version": "0.6.0-lumina-stub"})
                elif self.path == "/api/tags":
                    self._json(200, {"models": [stub.tag(m) for m in stub.models]})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._json(400, {"error": "invalid JSON"})
                    return
                if self.path != "/v1/chat/completions":
                    self._json(404, {"error": "not found"})
                    return
                stub.requests.append(body)
                model = str(body.get("model", ""))
                if stub.resolve(model) is None:
                    self._json(404, {"error": {"message": f"model '{model}' not found"}})
                    return
                messages = [_chat_message(m) for m in body.get("messages", [])]
                tools = body.get("tools") or ()
                max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 200)
                if body.get("stream"):
                    self._stream(model, messages, tools, max_tokens)
                    return
                parser = ToolCallParser()
                text = (
                    parser.feed(
                        "".join(
                            stub.llm.generate_sync(messages, tools=tools, max_tokens=max_tokens)
                        )
                    )[0]
                    + parser.finish()[0]
                )
                message: dict[str, Any] = {"role": "assistant", "content": text}
                if parser.calls:
                    message["tool_calls"] = [_openai_call(i, c) for i, c in enumerate(parser.calls)]
                self._json(200, {"id": "chatcmpl-stub", "object": "chat.completion",
                                 "created": int(time.time()), "model": model,
                                 "choices": [{"index": 0, "message": message,
                                              "finish_reason": "stop"}]})  # fmt: skip

            def _stream(
                self, model: str, messages: list[ChatMessage], tools: Any, max_tokens: int
            ) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                stop = threading.Event()
                parser = ToolCallParser()

                def send(data: str) -> None:
                    event = f"data: {data}\n\n".encode()
                    self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                    self.wfile.flush()

                def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
                    send(json.dumps({"id": "chatcmpl-stub", "object": "chat.completion.chunk",
                                     "created": int(time.time()), "model": model,
                                     "choices": [{"index": 0, "delta": delta,
                                                  "finish_reason": finish}]}))  # fmt: skip

                def emit(text: str, calls: list[ToolCall], first: int) -> None:
                    if text:
                        chunk({"role": "assistant", "content": text})
                    for i, call in enumerate(calls, first):
                        chunk({"role": "assistant", "tool_calls": [_openai_call(i, call)]})

                try:
                    for delta in stub.llm.generate_sync(
                        messages, tools=tools, max_tokens=max_tokens, stop=stop
                    ):
                        if _peer_closed(self.connection):
                            raise ConnectionResetError
                        n = len(parser.calls)
                        emit(*parser.feed(delta), n)
                    n = len(parser.calls)
                    emit(*parser.finish(), n)
                    chunk({}, "tool_calls" if parser.calls else "stop")
                    send("[DONE]")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (ConnectionError, BrokenPipeError, OSError):
                    stop.set()  # the client went away: stop generating, like Ollama
                    stub.disconnects += 1
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def resolve(self, model: str) -> str | None:
        wanted = model if ":" in model else f"{model}:latest"
        return next((m for m in self.models if m in (model, wanted)), None)

    def tag(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": _now(),
            "size": self.llm.model_path.stat().st_size,
            "digest": "0" * 64,
            "details": {"format": "gguf", "family": "llama", "parameter_size": "135M",
                        "quantization_level": "Q4_1"},
        }  # fmt: skip

    def start(self) -> OllamaStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OllamaStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
