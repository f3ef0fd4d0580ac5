"""A small local server speaking Ollama's HTTP API, backed by the embedded model.

No Ollama server exists in the package registries, so the ``ollama`` provider is tested against
this: ``GET /api/version``, ``GET /api/tags``, ``POST /api/chat`` (NDJSON stream, or one JSON
object with ``"stream": false``). It stops generating as soon as the client disconnects, like
Ollama does. Usage::

    with OllamaStub(EmbeddedLLM(bundled_gguf_path())) as stub:
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

from luminad.providers.base import ChatMessage
from luminad.providers.llamacpp import EmbeddedLLM


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
                if self.path != "/api/chat":
                    self._json(404, {"error": "not found"})
                    return
                stub.requests.append(body)
                model = str(body.get("model", ""))
                if stub.resolve(model) is None:
                    self._json(404, {"error": f"model '{model}' not found"})
                    return
                messages = [
                    ChatMessage(m["role"], m.get("content", "")) for m in body.get("messages", [])
                ]
                max_tokens = int((body.get("options") or {}).get("num_predict") or 200)
                if body.get("stream", True):
                    self._stream(model, messages, max_tokens)
                else:
                    text = "".join(stub.llm.generate_sync(messages, max_tokens=max_tokens))
                    self._json(200, stub.chunk(model, text, done=True))

            def _stream(self, model: str, messages: list[ChatMessage], max_tokens: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                stop = threading.Event()
                t0 = time.perf_counter()
                n = 0

                def send(obj: object) -> None:
                    line = json.dumps(obj).encode() + b"\n"
                    self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                    self.wfile.flush()

                try:
                    for delta in stub.llm.generate_sync(messages, max_tokens=max_tokens, stop=stop):
                        if _peer_closed(self.connection):
                            raise ConnectionResetError
                        send(stub.chunk(model, delta, done=False))
                        n += 1
                    final = stub.chunk(model, "", done=True)
                    final.update(eval_count=n, total_duration=int((time.perf_counter() - t0) * 1e9))
                    send(final)
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

    def chunk(self, model: str, content: str, *, done: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": content},
            "done": done,
        }
        if done:
            out["done_reason"] = "stop"
        return out

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
