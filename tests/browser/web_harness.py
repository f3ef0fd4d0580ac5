"""Harness of the browser tests: the web page in headless Chromium, real daemon, real models.

Chromium is Debian's (``$CHROMIUM`` or ``/usr/bin/chromium``), driven by the Python ``playwright``
package with ``executable_path``: no browser is ever downloaded. The microphone is Chromium's fake
capture device playing a WAV made with espeak-ng (it loops, so the speech is padded with silence).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from luminad.settings import REPO_ROOT

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
#: Spoken by espeak-ng; whisper tiny.en hears it reliably (it often hears "of France" as
#: "and friends"), and it is long enough for several partial transcripts.
QUESTION = "Hello there. What is the capital of Japan?"
#: What the embedded SmolLM2 answers to it (the README screenshot is taken from such a run).
ANSWER = "tokyo"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


# --------------------------------------------------------------------------- tools
def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spoken question: 1 s of silence, the speech, then 40 s of silence (the file loops)."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.fail("espeak-ng and sox are needed to synthesize the spoken question: run ./test.sh")
    d = tmp_path_factory.mktemp("speech")
    raw = d / "raw.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(raw), QUESTION], check=True)
    out = d / "question.wav"
    subprocess.run(
        ["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(out), "pad", "1.0", "40.0"],
        check=True,
    )
    return out


# --------------------------------------------------------------------------- daemon
@dataclass
class Daemon:
    """The daemon the page talks to: its URL and token, and an HTTP client for checks."""

    token: str
    http_url: str
    #: The daemon's log (None for a daemon you started yourself).
    log_path: Path | None = None

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.http_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )

    @property
    def login_url(self) -> str:
        """A fresh one-time login link, as `lumina open` prints it."""
        with self.api() as api:
            link: str = api.post("/v1/login-links").json()["url"]
        return link


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A private daemon for this module (the tests end with "forget me")."""
    if chromium_path() is None:
        pytest.fail("Chromium is not installed: run ./test.sh (or set $CHROMIUM)")
    url = os.environ.get("LUMINA_TEST_DAEMON_URL")
    if url:  # a daemon you started yourself (development): its URL and token
        yield Daemon(token=os.environ.get("LUMINA_TEST_DAEMON_TOKEN", ""), http_url=url.rstrip("/"))
        return
    from tests.support.daemon import run_daemon
    from tests.support.search_stub import SearchStub

    with SearchStub() as search:
        env = {"LUMINA_INTERNET": "1", "LUMINA_SEARCH_URL": search.url}
        with run_daemon(tmp_path_factory.mktemp("web-home"), env=env) as d:
            yield Daemon(token=d.token, http_url=d.http_url.rstrip("/"), log_path=d.log_path)


# --------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def browser(speech_wav: Path) -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        pytest.fail("Chromium is not installed: run ./test.sh (or set $CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=path,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={speech_wav}"],
        )
        try:
            yield b
        finally:
            b.close()


@dataclass
class PageProbe:
    """A logged-in page plus what it did: console errors and every URL it requested."""

    page: Any
    daemon: Daemon
    requests: list[str]
    problems: list[str]

    def js(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def wait_js(self, expression: str, timeout: float = 60) -> Any:
        handle = self.page.wait_for_function(expression, timeout=timeout * 1000, polling=100)
        return handle.json_value()

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path))
        return path

    def wait_until(self, check: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or check}")
            self.page.wait_for_timeout(200)


def open_page(
    browser: Any, daemon: Daemon, *, init_script: str | None = None, login: bool = True
) -> PageProbe:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    probe = PageProbe(page=page, daemon=daemon, requests=[], problems=[])
    page.on("request", lambda r: probe.requests.append(r.url))
    page.on("pageerror", lambda e: probe.problems.append(f"pageerror: {e}"))

    def on_console(message: Any) -> None:
        if message.type == "error":
            probe.problems.append(f"console.error: {message.text}")

    page.on("console", on_console)
    if login:
        page.goto(daemon.login_url)
        page.wait_for_function("window.lumina && window.lumina.ready", timeout=60_000)
    return probe


@pytest.fixture
def lumina_page(browser: Any, daemon: Daemon) -> Iterator[PageProbe]:
    probe = open_page(browser, daemon)
    try:
        yield probe
    finally:
        probe.page.context.close()


def dump(probe: PageProbe) -> str:
    """Page state for assertion messages."""
    try:
        log = probe.js(
            "JSON.stringify({state: lumina.state, log: lumina.log, stats: lumina.stats})"
        )
    except Exception as exc:  # the page may be gone
        log = repr(exc)
    return json.dumps({"page": log, "problems": probe.problems[-10:]})[:4000]
