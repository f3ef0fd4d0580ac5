"""``lumina replay`` against a private daemon with the default configuration's real models: a
recorded three-turn conversation is replayed from the log, compared with a second model,
exported for the dialogue bench; deletions and forget-me are respected."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from lumina_cli.main import main

from tests.support.daemon import Daemon


def run(daemon: Daemon, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), settings=daemon.settings)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.e2e
def test_replay_a_recorded_conversation(
    start_daemon: Callable[..., AbstractContextManager[Daemon]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    with start_daemon() as daemon:
        run(daemon, capsys, "memories", "add", "The user's sister is called Ana.")
        _, out, _ = run(daemon, capsys, "memories", "list", "--json")
        (memory,) = json.loads(out)
        code, _, _ = run(daemon, capsys, "say", "Hello, I like green tea.")
        assert code == 0
        with daemon.unix() as http:
            conversation_id = http.get("/v1/conversations").json()[0]["id"]
        for text in ("What time is it?", "What is my sister called?"):
            code, _, _ = run(daemon, capsys, "say", text, "--conversation", conversation_id)
            assert code == 0
        with daemon.unix() as http:
            turns = http.get(f"/v1/conversations/{conversation_id}").json()["turns"]
        users = [t["turn_id"] for t in turns if t["role"] == "user"]
        replies = [t["text"] for t in turns if t["role"] == "assistant"]
        assert len(users) == 3

        code, out, _ = run(daemon, capsys, "replay", users[2], "--json")
        (replay,) = json.loads(out)
        assert code == 0
        assert replay["user_text"] == "What is my sister called?"
        assert replay["recorded"]["text"] == replies[2]
        assert replay["replayed"]["text"].strip()
        assert replay["replayed"]["total_ms"] > 0
        assert replay["context"]["history"] == users[:2]
        recalled = [m["id"] for m in replay["context"]["memories"]]
        assert memory["id"] in recalled
        record = replay["record"]  # what the live turn recorded with its reply
        assert record["history"] == users[:2]
        assert [m["id"] for m in record["memories"]] == recalled
        assert record["model"] == replay["replayed"]["provider"] == replay["recorded"]["provider"]
        assert record["max_tokens"] > 0 and record["prompt_version"]
        assert replay["differences"] == []
        assert replay["recorded"]["timings_ms"]["total_ms"] > 0
        # the default embedded model is offered no tools (LUMINA_EMBEDDED_TOOLS=0): its tools
        # run through the local intents, recorded as the turn's tool calls (below)
        assert record["tools_offered"] == []

        # turn 2 used a tool (the local "what time is it" intent): the replay says what the
        # tool answered then, and runs nothing
        code, out, _ = run(daemon, capsys, "replay", users[1][:8], "--json")  # a prefix
        (timed,) = json.loads(out)
        (call,) = timed["recorded"]["tool_calls"]
        assert code == 0 and call["name"] == "current_time" and call["result"] == replies[1]
        assert timed["replayed"]["tool_calls"] == [call]
        assert timed["replayed"]["text"] == replies[1]

        code, out, _ = run(daemon, capsys, "replay", users[2], "--compare", "smollm2", "--json")
        default, smol = json.loads(out)
        assert code == 0 and default["replayed"]["text"].strip() and smol["replayed"]["text"]
        assert "smollm2" in smol["replayed"]["provider"].lower()
        assert default["replayed"]["provider"] != smol["replayed"]["provider"]
        assert smol["context"] == default["context"]
        model_changed = (
            f"model: recorded {record['model']}, replayed {smol['replayed']['provider']}"
        )
        assert smol["differences"] == [model_changed]
        with daemon.unix() as http:  # nothing was written by the replay
            after = http.get(f"/v1/conversations/{conversation_id}").json()["turns"]
            assert after == turns
            assert http.get("/v1/events/verify").json()["ok"]

        code, out, _ = run(daemon, capsys, "replay", users[2])
        assert code == 0 and "recorded" in out and "replayed" in out and "first token" in out

        export = tmp_path / "dialogue.json"
        code, out, _ = run(
            daemon, capsys, "replay", "--conversation", conversation_id, "--export", str(export)
        )
        assert code == 0
        (dialogue,) = json.loads(export.read_text())["dialogues"]
        assert [t["user"] for t in dialogue["turns"]] == [
            "Hello, I like green tea.",
            "What time is it?",
            "What is my sister called?",
        ]
        assert [t["reply"] for t in dialogue["turns"]] == replies
        assert "The user's sister is called Ana." in dialogue["turns"][2]["memories"]

        code, _, _ = run(daemon, capsys, "memories", "delete", memory["id"])
        assert code == 0
        code, out, _ = run(daemon, capsys, "replay", users[2], "--json")
        (replay,) = json.loads(out)
        # deleting shredded the memory in the log too: the replay cannot bring it back
        used: list[dict[str, Any]] = replay["context"]["memories"]
        assert code == 0 and [m for m in used if m["id"] == memory["id"] and not m["gone"]] == []
        assert all("Ana" not in (m.get("text") or "") for m in used)

        with daemon.unix() as http:  # what a client sends never yields `internal`
            for body in ({"llm": "nonsense"}, {"max_reply_tokens": 0}, {"temperature": -1}):
                r = http.post(f"/v1/turns/{users[2]}/replay", json=body)
                assert r.status_code == 400 and r.json()["code"] == "bad_message", body
            r = http.post(f"/v1/turns/{users[2]}/replay", json={"avatar_id": "nobody"})
            assert r.status_code == 404 and r.json()["code"] == "avatar_not_found"
        code, _, err = run(daemon, capsys, "replay", "0" * 32)
        assert code == 1 and "turn_not_found" in err
        code, _, _ = run(daemon, capsys, "forget-me", "--confirm", "forget me")
        assert code == 0
        code, _, err = run(daemon, capsys, "replay", users[2])
        assert code == 1 and "turn_not_found" in err
