"""The `lumina` command against the real daemon (over its Unix socket)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lumina_cli.client import NOT_RUNNING
from lumina_cli.main import COMMANDS, build_parser, command, main

from luminad.providers.speech_setup import MAX_VERIFY_WER
from luminad.settings import load_settings
from tests.support.daemon import Daemon


def _run(daemon: Daemon, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), settings=daemon.settings)
    out, err = capsys.readouterr()
    return code, out, err


def test_not_running_says_how_to_start_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings({"LUMINA_HOME": str(tmp_path)})
    for argv in (["doctor"], ["memories", "list"], ["say", "hi"], ["open"], ["events"]):
        code = main(argv, settings=settings)
        _, err = capsys.readouterr()
        assert code == 3, argv
        assert err.strip() == NOT_RUNNING
        assert "luminad serve" in err and err.count("\n") == 1


def test_registry_is_extensible(capsys: pytest.CaptureFixture[str]) -> None:
    def _args(p: Any) -> None:
        p.add_argument("--loud", action="store_true")

    @command("test-hook", "a plugged-in command", _args)
    def _hook(args: Any, ctx: Any) -> int:
        print("hooked", args.loud)
        return 0

    try:
        assert "test-hook" in build_parser().format_help()
        assert main(["test-hook", "--loud"], settings=load_settings({})) == 0
        assert "hooked True" in capsys.readouterr().out
    finally:
        COMMANDS.pop("test-hook")


@pytest.mark.e2e
def test_doctor(daemon: Daemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(daemon, capsys, "doctor")
    for name in ("stt", "llm", "tts", "embeddings", "store"):
        assert name in out
    assert code == 0  # every engine of the test daemon is real and working
    code, out, _ = _run(daemon, capsys, "doctor", "--json")
    assert json.loads(out)["status"] == "ready"


@pytest.mark.e2e
def test_doctor_deep_proves_the_models_work(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    """Piper says a sentence and whisper hears it back: the doctor reports what it heard, and
    calls the speech engines healthy only within the bar model verification uses (tiny.en on
    Piper's voice scores 0-0.07 here; a run on CI scored 0.27, what it heard unprinted)."""
    code, out, _ = _run(daemon, capsys, "doctor", "--deep")
    assert "deep check heard" in out, out
    line = next(x for x in out.splitlines() if "word error rate" in x)
    assert float(line.rsplit(":", 1)[1]) <= MAX_VERIFY_WER, out
    assert code == 0, out


@pytest.mark.e2e
def test_memories_commands(daemon: Daemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(daemon, capsys, "memories", "add", "My cat is called Turing")
    assert code == 0 and "Remembered" in out
    code, out, _ = _run(daemon, capsys, "memories", "search", "pet name", "--json")
    hits = json.loads(out)
    assert code == 0 and hits[0]["text"] == "My cat is called Turing"
    memory_id = hits[0]["id"]
    code, out, _ = _run(daemon, capsys, "memories", "list")
    assert code == 0 and "Turing" in out
    code, out, _ = _run(daemon, capsys, "memories", "delete", memory_id)
    assert code == 0
    code, out, _ = _run(daemon, capsys, "memories", "search", "pet name", "--json")
    assert all(m["id"] != memory_id for m in json.loads(out))
    code, _, err = _run(daemon, capsys, "memories", "delete", memory_id)
    assert code == 1 and "memory_not_found" in err


@pytest.mark.e2e
def test_avatars_and_profile_commands(daemon: Daemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(daemon, capsys, "avatars", "create", "Grace", "--persona", "an admiral")
    assert code == 0 and "Grace" in out
    code, out, _ = _run(daemon, capsys, "avatars", "list", "--json")
    grace = next(a for a in json.loads(out) if a["name"] == "Grace")
    code, out, _ = _run(daemon, capsys, "avatars", "update", grace["id"], "--style", "brief")
    assert code == 0
    code, out, _ = _run(daemon, capsys, "avatars", "list")
    assert "Grace" in out and "Lumina" in out
    code, out, _ = _run(daemon, capsys, "avatars", "delete", grace["id"])
    assert code == 0
    code, out, _ = _run(daemon, capsys, "profile", "--name", "Robin", "--set", "units=metric")
    assert code == 0 and "Robin" in out
    code, out, _ = _run(daemon, capsys, "profile", "--json")
    assert json.loads(out)["preferred_name"] == "Robin"


@pytest.mark.e2e
def test_events_and_audit_commands(daemon: Daemon, capsys: pytest.CaptureFixture[str]) -> None:
    _run(daemon, capsys, "memories", "add", "events test note")
    code, out, _ = _run(daemon, capsys, "events", "--json", "--type", "MemoryRemembered")
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert code == 0 and lines and all(e["type"] == "MemoryRemembered" for e in lines)
    code, out, _ = _run(daemon, capsys, "events", "--limit", "3")
    assert code == 0 and out.strip()
    code, out, _ = _run(daemon, capsys, "events", "audit")
    assert code == 0 and "check" in out  # a healthy install that was never forgotten
    code, out, _ = _run(daemon, capsys, "events", "verify", "--json")
    chain = json.loads(out)
    assert code == 0 and chain["ok"] and chain["events"] >= 2 and len(chain["head"]) == 64
    assert chain["broken_at"] is None
    code, out, _ = _run(daemon, capsys, "events", "verify")
    assert code == 0 and f"{chain['events']} events chained" in out


@pytest.mark.e2e
def test_open_prints_a_login_url_that_works(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(daemon, capsys, "open")
    url = out.strip()
    assert code == 0 and url.startswith(daemon.http_url + "/#login=")
    assert daemon.token not in url
    r = httpx.post(
        f"{daemon.http_url}/login",
        json={"code": url.split("#login=", 1)[1]},
        headers={"Origin": daemon.http_url},
    )
    assert r.status_code == 200 and r.json()["session"]


@pytest.mark.e2e
def test_forget_me_refuses_without_the_phrase(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("builtins.input", lambda prompt="": "yes")
    code, out, _ = _run(daemon, capsys, "forget-me")
    assert code == 1 and "Nothing was deleted" in out


@pytest.mark.e2e
def test_say_and_chat_stream_a_reply(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = _run(daemon, capsys, "say", "Say hi in three words.")
    assert code == 0 and out.startswith("Lumina:") and len(out.strip()) > len("Lumina:")

    lines: Iterator[str] = iter(["Name one colour.", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    code, out, err = _run(daemon, capsys, "chat")
    assert code == 0 and "Lumina:" in out, err
    assert "conversation" in err


@pytest.mark.e2e
def test_internet_switch_is_refused_when_web_search_is_not_set_up(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = _run(daemon, capsys, "say", "--internet", "Hello.")
    assert code == 1 and "internet_disabled" in err and "LUMINA_INTERNET" in err
    assert out == ""  # nothing was asked

    lines: Iterator[str] = iter(["/internet on", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    code, _, err = _run(daemon, capsys, "chat")
    assert code == 0 and "internet_disabled" in err and "Internet mode is ON" not in err


@pytest.mark.e2e
def test_internet_switch_turns_web_search_on_and_off(
    start_daemon: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"LUMINA_INTERNET": "1", "LUMINA_SEARCH_URL": "http://127.0.0.1:9/search"}
    with start_daemon(env=env) as own:
        lines: Iterator[str] = iter(["/internet on", "/internet off", "/quit"])
        monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
        code, _, err = _run(own, capsys, "chat", "--internet")
        assert code == 0, err
        assert err.count("Internet mode is ON") == 2 and "Internet mode is off" in err
        assert "error" not in err.lower()


@pytest.mark.e2e
def test_chat_shows_tool_calls_and_timers(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(daemon, capsys, "say", "Set a tea timer for 10 minutes.")
    assert code == 0, err
    assert "⚙ set_timer" in err and "→" in err, err
    assert "⏰ tea: set, due" in err, err
    assert out.startswith("Lumina:")
    code, _, err = _run(daemon, capsys, "say", "Cancel the tea timer.")
    assert code == 0 and "⚙ cancel_timer" in err and "⏰ tea: cancelled" in err, err
