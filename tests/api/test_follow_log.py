"""The daemon's read models follow events that another process appends to a shared store."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from uuid import uuid4

from luminad.app import open_lumina
from luminad.settings import load_settings
from tests.domain.harness import FakeEmbedder, drop_schema, postgres_url
from tests.support.daemon import Daemon


def test_memory_written_by_another_process_shows_up(
    tmp_path: Path, start_daemon: Callable[..., AbstractContextManager[Daemon]]
) -> None:
    url = postgres_url()
    schema = f"t_follow_{uuid4().hex[:8]}"
    store = f"{url}?schema={schema}"
    try:
        with start_daemon(env={"LUMINA_STORE": store}) as daemon:
            # a second writer: same store and data key, its own read models
            other = load_settings(
                {
                    "LUMINA_HOME": str(tmp_path / "other"),
                    "LUMINA_CONFIG_DIR": str(daemon.settings.config_dir),
                    "LUMINA_STORE": store,
                }
            )
            writer = open_lumina(other, FakeEmbedder())
            try:
                writer.remember("The spare house key is under the blue flowerpot.")
            finally:
                writer.close()

            texts: list[Any] = []
            deadline = time.monotonic() + 15
            with daemon.http() as http:
                while time.monotonic() < deadline:
                    texts = [m["text"] for m in http.get("/v1/memories").json()]
                    if texts:
                        break
                    time.sleep(0.2)
                assert texts == ["The spare house key is under the blue flowerpot."]
                found = http.get("/v1/memories", params={"q": "where is the house key"}).json()
                assert found and "flowerpot" in found[0]["text"]
    finally:
        drop_schema(url, schema)
