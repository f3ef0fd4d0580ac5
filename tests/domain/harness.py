"""Shared fixtures of the core tests: a fake embedder (unit tests only), and the two stores.

Scenario tests take the ``store`` fixture and so run against SQLite and against PostgreSQL
(``LUMINA_TEST_POSTGRES``, default the local test server; each test gets its own schema). A
missing PostgreSQL server fails those tests with a message; it never skips them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from uuid import uuid4

import numpy as np
import numpy.typing as npt
import pytest

from luminad.app import Lumina, open_lumina
from luminad.protocol import EngineHealth
from luminad.settings import Settings, load_settings

DEFAULT_POSTGRES = "postgresql://postgres:lumina@127.0.0.1:5432/lumina_test"


class FakeEmbedder:
    """Bag-of-words hashing into 384 dims: texts sharing words are close. Tests only."""

    name = "fake-bow"
    dim = 384

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
            norm = float(np.linalg.norm(out[i]))
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out

    async def health(self) -> EngineHealth:
        return EngineHealth(ok=True, configured=True, reachable=True, model=self.name)


def postgres_url() -> str:
    """The test server URL; fails the test (never skips) when it cannot be reached."""
    import psycopg

    url = os.environ.get("LUMINA_TEST_POSTGRES") or DEFAULT_POSTGRES
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as e:
        pytest.fail(
            f"PostgreSQL test server not reachable at {url} ({e}). Start it with "
            "`pg_ctlcluster 15 main start` (./test.sh does this) or set "
            "LUMINA_TEST_POSTGRES.",
            pytrace=False,
        )
    return url


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[str]:
    """The ``LUMINA_STORE`` value: ``sqlite`` or a PostgreSQL URL with a fresh schema."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    url = postgres_url()
    schema = f"t_{uuid4().hex[:12]}"
    yield f"{url}?schema={schema}"
    drop_schema(url, schema)


def make_settings(home: Path, store: str = "sqlite") -> Settings:
    return load_settings({"LUMINA_HOME": str(home), "LUMINA_STORE": store})


@pytest.fixture
def settings(tmp_path: Path, store: str) -> Settings:
    return make_settings(tmp_path / "home", store)


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def app(settings: Settings, embedder: FakeEmbedder) -> Iterator[Lumina]:
    lumina = open_lumina(settings, embedder)
    yield lumina
    lumina.close()
