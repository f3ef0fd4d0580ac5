"""End-to-end: the default configuration holds a conversation (issue 10).

The real daemon with its default settings (no Ollama running: the embedded Qwen2.5 0.5B), typed
turns over the voice socket: follow-up questions are answered on topic, and an earlier turn is
recalled. Replies are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from luminad import protocol
from tests.e2e.client import VoiceClient
from tests.support.daemon import Daemon, run_daemon

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    # the default settings, with Ollama's address pointed at a closed port
    env = {"LUMINA_OLLAMA_HOST": "http://127.0.0.1:9"}
    with run_daemon(tmp_path_factory.mktemp("e2e-conversation"), env=env) as d:
        yield d


async def _ask(c: VoiceClient, text: str, n: int) -> str:
    await c.send(protocol.Text(text=text))
    done = await c.wait_for(protocol.AssistantDone, n, within=240)
    await c.wait_for(protocol.TurnTiming, n, within=60)
    print(f"\n{text!r} -> {done[n - 1].text!r}")
    return str(done[n - 1].text).lower()


async def test_follow_up_questions_stay_on_topic_and_recall(daemon: Daemon) -> None:
    c = await VoiceClient.connect(daemon.ws_url(), daemon.auth_headers)
    try:
        ready = await c.hello(sample_rate=16000, tts=False)
        assert ready.health.engines["llm"].model.startswith("qwen2.5")
        assert "paris" in await _ask(c, "What is the capital of France?", 1)
        assert "rome" in await _ask(c, "And what about Italy?", 2)
        assert "jupiter" in await _ask(c, "What is the largest planet?", 3)
        assert "france" in await _ask(c, "Which country did I ask about first?", 4)
    finally:
        await c.close()
