"""The first hour of a new user, typed as README types it: stop, start, restart, status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from lumina_cli.client import EXIT_NOT_RUNNING
from lumina_cli.main import main

from luminad.service import daemon_pid
from luminad.settings import load_settings
from tests.support.daemon import Daemon, daemon_env

pytestmark = pytest.mark.e2e


def test_lumina_stop_start_restart_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no login service installed for this user
    for key, value in daemon_env(tmp_path / "home").items():
        if key.startswith("LUMINA_"):
            monkeypatch.setenv(key, value)
    settings = load_settings()
    try:
        assert main(["status"], settings=settings) == EXIT_NOT_RUNNING
        assert "not running" in capsys.readouterr().out
        assert main(["start"], settings=settings) == 0
        assert "luminad is ready" in capsys.readouterr().out
        first = daemon_pid(settings)
        assert first is not None
        assert main(["status"], settings=settings) == 0
        out = capsys.readouterr().out
        assert f"luminad is ready (pid {first}" in out and str(settings.socket_path) in out
        assert main(["restart"], settings=settings) == 0
        second = daemon_pid(settings)
        assert second is not None and second != first
        assert main(["stop"], settings=settings) == 0
        assert "Stopped luminad" in capsys.readouterr().out
        assert daemon_pid(settings) is None
        assert main(["status"], settings=settings) == EXIT_NOT_RUNNING
    finally:
        left = daemon_pid(settings)
        if left is not None:
            os.kill(left, signal.SIGKILL)


def _lumina(daemon: Daemon, *argv: str) -> subprocess.CompletedProcess[str]:
    """``lumina ...`` as a user runs it, its output piped (not a terminal)."""
    env = {
        **os.environ,
        "LUMINA_HOME": str(daemon.settings.home),
        "LUMINA_RUNTIME_DIR": str(daemon.settings.runtime_dir),
        "TERM": "xterm-256color",  # colours would be welcome on a terminal, but this is a pipe
        "COLUMNS": "80",  # the terminal the output goes to
    }
    return subprocess.run(
        [sys.executable, "-m", "lumina_cli.main", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_tables_fit_80_columns_and_their_short_ids_work_everywhere(daemon: Daemon) -> None:
    with daemon.unix() as api:
        ids = [
            api.post("/v1/memories", json={"text": f"first hour note {i} " + "word " * 30}).json()[
                "id"
            ]
            for i in range(3)
        ]
        ada = api.post("/v1/avatars", json={"name": "Ada", "persona": "a mathematician"}).json()
        # the API takes a unique prefix wherever an id goes
        assert api.get(f"/v1/avatars/{ada['id'][:6]}").json()["id"] == ada["id"]
        assert api.get("/v1/memories", params={"avatar_id": ada["id"][:8]}).is_success
    for argv in (("memories", "list"), ("avatars", "list")):
        run = _lumina(daemon, *argv)
        assert run.returncode == 0, run.stderr
        widths = [len(line) for line in run.stdout.splitlines()]
        assert max(widths) <= 80, run.stdout
    listed = _lumina(daemon, "memories", "list").stdout
    assert all(i[:8] in listed for i in ids) and not any(i in listed for i in ids)
    # the prefix the table shows is what `delete` takes
    run = _lumina(daemon, "memories", "delete", ids[0][:8])
    assert run.returncode == 0, run.stderr
    run = _lumina(daemon, "avatars", "delete", ada["id"][:8])
    assert run.returncode == 0, run.stderr
    with daemon.unix() as api:
        assert ids[0] not in {m["id"] for m in api.get("/v1/memories").json()}
        for memory_id in ids[1:]:
            assert api.delete(f"/v1/memories/{memory_id}").status_code == 200


def test_an_ambiguous_prefix_is_a_clear_error() -> None:
    from luminad import errors
    from luminad.api.runtime import parse_id

    known = ["3f2a0000-0000-4000-8000-000000000001", "3f2a1111-0000-4000-8000-000000000002"]
    with pytest.raises(errors.BadMessage, match="matches 2 memory ids"):
        parse_id("3f2a", errors.MemoryNotFound, "memory", lambda: known)
    assert str(parse_id("3f2a1", errors.MemoryNotFound, "memory", lambda: known)) == known[1]
    with pytest.raises(errors.MemoryNotFound):
        parse_id("3f2", errors.MemoryNotFound, "memory", lambda: known)  # too short
    with pytest.raises(errors.MemoryNotFound):
        parse_id("ffff", errors.MemoryNotFound, "memory", lambda: known)


def test_memory_search_shows_only_relevant_memories(daemon: Daemon) -> None:
    with daemon.unix() as api:
        made = [
            api.post("/v1/memories", json={"text": t}).json()["id"]
            for t in ("My sister Anna lives in Berlin.", "I am allergic to peanuts.")
        ]
        try:
            found = api.get("/v1/memories", params={"q": "where does my sister live"}).json()
            assert [m["text"] for m in found] == ["My sister Anna lives in Berlin."]
            assert all(m["score"] >= 0.25 for m in found)
            assert api.get("/v1/memories", params={"q": "quantum physics lecture"}).json() == []
        finally:
            for memory_id in made:
                api.delete(f"/v1/memories/{memory_id}")


def test_no_ansi_codes_when_output_is_piped(daemon: Daemon, tmp_path: Path) -> None:
    from tests.support.speech import speak_to_wav

    wav = speak_to_wav("What is the capital of Japan?", tmp_path / "q.wav")
    for argv in (("doctor",), ("memories", "list"), ("talk", "--wav", str(wav), "--no-tts")):
        run = _lumina(daemon, *argv)
        assert "\x1b" not in run.stdout + run.stderr, argv
        assert run.stdout.strip(), (argv, run.stderr)


def test_doctor_reports_audio_devices_and_what_to_do_without_them(daemon: Daemon) -> None:
    run = _lumina(daemon, "doctor")
    # this machine has no sound card: doctor says so and points to --wav
    assert "microphone: none found" in run.stdout and "lumina talk --wav" in run.stdout
    assert "speaker: none found" in run.stdout
