"""Fixtures for every test suite: the real daemon (``luminad serve`` as a subprocess).

``daemon``: one daemon for the whole session (real models, loaded once), rooted in a temporary
``LUMINA_HOME`` with the shared model cache. Tests that destroy data (forget-me) or need their
own process use ``start_daemon`` instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from luminad.providers.gguf_files import qwen_path, smollm2_path  # noqa: E402
from luminad.providers.llamacpp import EmbeddedLLM  # noqa: E402
from luminad.settings import load_settings  # noqa: E402
from tests.support.daemon import Daemon, run_daemon  # noqa: E402


@pytest.fixture(scope="session")
def embedded_llm() -> Iterator[EmbeddedLLM]:
    """SmolLM2-135M (fast): for tests of the engine plumbing, not of conversation."""
    llm = EmbeddedLLM(smollm2_path(), temperature=0.0)
    yield llm
    llm.close()


@pytest.fixture(scope="session")
def qwen_llm() -> Iterator[EmbeddedLLM]:
    """The default embedded model (Qwen2.5 0.5B), assembled into the shared model cache."""
    llm = EmbeddedLLM(
        qwen_path(load_settings({}).models_cache_dir), temperature=0.0, offer_tools=True
    )
    yield llm
    llm.close()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The real daemon, shared by the session's tests; every network attempt it makes to a
    non-loopback address is appended to ``<home>/net-audit.log`` (see test_no_telemetry)."""
    home = tmp_path_factory.mktemp("daemon-home")
    with run_daemon(home, net_audit=home / "net-audit.log") as d:
        yield d


@pytest.fixture
def start_daemon(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., AbstractContextManager[Daemon]]:
    """``with start_daemon(env={...}, net_audit=path) as d:``: a private daemon."""

    def _start(**kwargs: Any) -> AbstractContextManager[Daemon]:
        return run_daemon(tmp_path_factory.mktemp("daemon-own"), **kwargs)

    return _start
