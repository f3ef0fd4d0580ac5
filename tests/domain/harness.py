"""Shared fixtures of the core tests: the fake embedder (unit tests only), and the two stores.

Scenario tests take the ``store`` fixture and so run against SQLite and against PostgreSQL
(``LUMINA_TEST_POSTGRES``: ``./test.sh`` starts a throwaway cluster and sets it; each test gets
its own schema). A missing PostgreSQL server fails those tests with a message; it never skips them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from luminad.app import Lumina, open_lumina
from luminad.settings import Settings, load_settings
from tests.support.fakes import FakeEmbedder

DEFAULT_POSTGRES = "postgresql://postgres:lumina@127.0.0.1:5432/lumina_test"


def postgres_url() -> str:
    """The test server URL; fails the test (never skips) when it cannot be reached."""
    import psycopg

    url = os.environ.get("LUMINA_TEST_POSTGRES") or DEFAULT_POSTGRES
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as e:
        pytest.fail(
            f"PostgreSQL test server not reachable at {url} ({e}). Start it with "
            "`./test.sh` (it runs a throwaway cluster of its own) or set "
            "LUMINA_TEST_POSTGRES to a server you own.",
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
