"""A SearXNG-shaped JSON search endpoint on loopback (internet mode in tests without the
internet): it answers one result and notes each query with the time it arrived."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class SearchStub:
    """``with SearchStub() as stub:`` then ``LUMINA_SEARCH_URL=stub.url``."""

    def __init__(self, title: str = "Paris", content: str = "Paris is the capital of France."):
        #: (arrival time, query) of each request, in order.
        self.queries: list[tuple[float, str]] = []
        body = json.dumps(
            {"results": [{"title": title, "url": "https://example.org/r", "content": content}]}
        ).encode()
        queries = self.queries

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                queries.append((time.time(), parse_qs(urlsplit(self.path).query).get("q", [""])[0]))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/search"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> SearchStub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
