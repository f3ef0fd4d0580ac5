"""The openai provider against `python -m llama_cpp.server` serving the SmolLM2 GGUF."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from luminad import protocol
from luminad.agent.agent import ReplyContext, Responder
from luminad.errors import LlmUnavailable
from luminad.providers.base import ChatMessage, stream_text
from luminad.providers.gguf_files import smollm2_path
from luminad.providers.openai_compat import OpenAICompatLLM

COUNT = "Count from 1 to 1000, separated by commas."
AVATAR = protocol.Avatar(id="a1", name="Lumina", persona="", style="", voice="joe", builtin=True)


def ctx(text: str, history: list[ChatMessage]) -> ReplyContext:
    return ReplyContext(
        avatar=AVATAR, preferred_name=None, preferences={}, history=history, user_text=text
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(smollm2_path()), "--model_alias", "smollm2",
            "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", "2048", "--n_threads", "2",
            # only a client disconnect may stop a generation (not the next request)
            "--interrupt_requests", "False",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_streams_multi_turn(server_url: str) -> None:
    llm = OpenAICompatLLM(server_url, "smollm2")
    history = [
        ChatMessage("user", "The secret word is banana."),
        ChatMessage("assistant", "Okay, the secret word is banana."),
    ]
    responder = Responder(llm, max_tokens=30)
    deltas = [d async for d in responder.stream_reply(ctx("What is the secret word?", history))]
    assert len(deltas) > 1
    assert "banana" in "".join(deltas).lower()
    assert (await llm.health()).ok


async def test_cancel_stops_server_generation(server_url: str) -> None:
    # end-of-turn tokens banned: uncancelled, this generation would run all 1500 tokens
    llm = OpenAICompatLLM(server_url, "smollm2", extra_body={"logit_bias": {"0": -100, "2": -100}})
    got: list[str] = []

    async def consume() -> None:
        async for d in stream_text(llm, COUNT, max_tokens=1500):
            got.append(d)

    task = asyncio.create_task(consume())
    for _ in range(3000):
        if len(got) >= 5:
            break
        await asyncio.sleep(0.01)
    assert len(got) >= 5
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The server serialises generations: had it kept writing 1500 tokens, this would wait.
    t0 = time.perf_counter()
    after = [d async for d in stream_text(llm, "Say hi.", max_tokens=3)]
    assert after
    assert time.perf_counter() - t0 < 6.0


async def test_unknown_model_and_health(server_url: str) -> None:
    h = await OpenAICompatLLM(server_url, "gpt-9").health()
    assert h.reachable and not h.ok and h.action and "LUMINA_LLM_MODEL" in h.action


async def test_unreachable_server() -> None:
    llm = OpenAICompatLLM("http://127.0.0.1:9/v1", "smollm2")
    with pytest.raises(LlmUnavailable) as exc:
        _ = [d async for d in stream_text(llm, COUNT, max_tokens=3)]
    assert exc.value.action and "llama_cpp.server" in exc.value.action
