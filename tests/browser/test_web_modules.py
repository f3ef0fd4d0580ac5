"""The page's modules in real Chromium, without the daemon: the files are served by a plain
static server, and each test imports one module and drives it.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from luminad.settings import REPO_ROOT

pytestmark = pytest.mark.browser

WEB_DIR = REPO_ROOT / "frontends" / "web"


class _Quiet(SimpleHTTPRequestHandler):
    def guess_type(self, path: str | os.PathLike[str]) -> str:
        return "text/javascript" if str(path).endswith(".js") else super().guess_type(path)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def static_url() -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(WEB_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def blank(browser: Any, static_url: str) -> Iterator[Any]:
    """A page at the static origin (so modules import) that does not run the app."""
    context = browser.new_context()
    page = context.new_page()
    page.route(
        f"{static_url}/blank.html",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<!doctype html>"),
    )
    page.goto(f"{static_url}/blank.html")
    try:
        yield page
    finally:
        context.close()


def test_energy_vad_starts_on_speech_and_ends_after_the_silence_timer(blank: Any) -> None:
    events = blank.evaluate(
        """async () => {
          const { EnergyVad } = await import('/js/vad.js');
          const vad = new EnergyVad({ frameMs: 40, onsetMs: 120, silenceMs: 900 });
          const out = [];
          const feed = (rms, n) => { for (let i = 0; i < n; i++) {
            const e = vad.update(rms); if (e) out.push([e, i]); } };
          feed(0.0005, 25);   // room noise: nothing
          feed(0.1, 10);      // speech: starts after 3 frames
          feed(0.0005, 30);   // silence: ends after 900 ms
          return out;
        }"""
    )
    assert events == [["start", 2], ["end", 22]]


def test_energy_vad_needs_more_energy_while_the_assistant_speaks(blank: Any) -> None:
    started = blank.evaluate(
        """async () => {
          const { EnergyVad } = await import('/js/vad.js');
          const run = (echoGuard) => { const vad = new EnergyVad();
            for (let i = 0; i < 20; i++) vad.update(0.001);
            let start = false;
            for (let i = 0; i < 10; i++) {
              start = vad.update(0.006, { echoGuard }) === 'start' || start;
            }
            return start; };
          return [run(false), run(true)];
        }"""
    )
    assert started == [True, False]


def test_session_client_pairs_each_tts_chunk_with_the_binary_frame_after_it(blank: Any) -> None:
    got = blank.evaluate(
        """async () => {
          const { SessionClient } = await import('/js/protocol.js');
          const c = new SessionClient('ws://unused');
          const audio = [], messages = [];
          c.on('audio', (a) => audio.push([a.header.seq, a.pcm.byteLength]));
          c.on('message', (m) => messages.push(m.type));
          c.onFrame(new ArrayBuffer(8));                       // no header: ignored
          c.onFrame(JSON.stringify({type: 'tts_chunk', turn_id: 't', seq: 0,
                                    sample_rate: 22050, text: 'Hi.'}));
          c.onFrame(new ArrayBuffer(4410));
          c.onFrame(JSON.stringify({type: 'assistant_done', turn_id: 't', text: 'Hi.',
                                    sources: []}));
          c.onFrame('not json');
          return { audio, messages };
        }"""
    )
    assert got == {"audio": [[0, 4410]], "messages": ["assistant_done"]}


def test_player_plays_after_the_jitter_buffer_and_stops_at_once(blank: Any) -> None:
    result = blank.evaluate(
        """async () => {
          const { Player } = await import('/js/player.js');
          const ctx = new AudioContext();
          await ctx.resume();
          const player = new Player(ctx);
          const pcm = new Int16Array(22050);           // 1 s of a 440 Hz tone at 22,050 Hz
          for (let i = 0; i < pcm.length; i++) {
            pcm[i] = 8000 * Math.sin(2 * Math.PI * 440 * i / 22050);
          }
          player.enqueue('t', pcm.buffer.slice(0), 22050);
          player.enqueue('t', pcm.buffer.slice(0), 22050);
          const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
          await sleep(500);
          const during = player.playedSamples;
          const playing = player.playing;
          player.stop();
          const stopped = player.playedSamples;
          await sleep(400);
          return { during, playing, stopped, after: player.playedSamples,
                   playingAfter: player.playing, pending: player.pendingSeconds };
        }"""
    )
    assert result["playing"] is True
    assert 0 < result["during"] < 2 * 22050
    assert result["after"] == result["stopped"]
    assert result["playingAfter"] is False
    assert result["pending"] == 0


def test_microphone_sends_pcm16_frames_of_40_ms_at_the_device_rate(blank: Any) -> None:
    result = blank.evaluate(
        """async () => {
          const { Microphone } = await import('/js/mic.js');
          const ctx = new AudioContext();
          await ctx.resume();
          const frames = [];
          const mic = new Microphone(ctx, { frameMs: 40, onFrame: (pcm, rms) =>
            frames.push([pcm.byteLength, rms]) });
          await mic.start();
          await new Promise((r) => setTimeout(r, 3000));  // 1 s silence, then speech
          mic.stop();
          return { rate: ctx.sampleRate, frames };
        }"""
    )
    size = round(result["rate"] * 0.040) * 2
    assert len(result["frames"]) > 30
    assert {n for n, _ in result["frames"]} == {size}
    assert max(rms for _, rms in result["frames"]) > 0.01  # the spoken question came through


def test_voice_input_push_to_talk_and_hands_free(blank: Any) -> None:
    got = blank.evaluate(
        """async () => {
          const { VoiceInput } = await import('/js/voice.js');
          const log = [];
          let playing = true;
          const voice = new VoiceInput({
            openMic: async () => true,
            send: () => { log.push('frame'); return true; },
            end: () => log.push('end'),
            bargeIn: () => { log.push('barge-in'); playing = false; },
            isPlaying: () => playing,
            onChange: () => {},
            onLevel: () => {},
          });
          const frame = () => new ArrayBuffer(3528);
          const count = (from) => log.slice(from).filter((x) => x === 'frame').length;
          // push-to-talk: nothing is sent until pressed; release ends the utterance
          for (let i = 0; i < 5; i++) voice.onFrame(frame(), 0.2);
          const idle = log.length;
          await voice.pttDown();
          for (let i = 0; i < 5; i++) voice.onFrame(frame(), 0.2);
          voice.pttUp();
          const ptt = log.slice();
          // hands-free: speech start sends the pre-roll, the silence timer sends `end`
          log.length = 0;
          playing = true;
          await voice.setMode('handsfree');
          for (let i = 0; i < 20; i++) voice.onFrame(frame(), 0.0001);
          const quiet = log.length;
          for (let i = 0; i < 10; i++) voice.onFrame(frame(), 0.2);
          const speaking = voice.capturing;
          for (let i = 0; i < 30; i++) voice.onFrame(frame(), 0.0001);
          return { idle, ptt, quiet, speaking, hands: log.slice(), after: voice.capturing,
                   frames: count(0) };
        }"""
    )
    assert got["idle"] == 0
    assert got["ptt"] == ["barge-in", *["frame"] * 5, "end"]
    assert got["quiet"] == 0
    assert got["speaking"] == "vad"
    hands = got["hands"]
    assert hands[0] == "barge-in" and hands[-1] == "end" and hands.count("end") == 1
    # pre-roll (8 frames) + speech after the start + the silence until the timer fired
    assert got["frames"] == 8 + 7 + 23
    assert got["after"] is None
