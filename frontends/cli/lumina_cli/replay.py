"""``lumina replay``: re-run recorded turns and show the recorded reply beside the new one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lumina_cli.output import print_json, table
from lumina_cli.registry import Context, command


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("turn_id", nargs="?", help="the turn to replay (see `lumina events`)")
    p.add_argument("--conversation", metavar="ID", help="replay every turn of a conversation")
    p.add_argument("--llm", help="provider: embedded, ollama or openai (default: the daemon's)")
    p.add_argument("--model", help="model of that provider, e.g. smollm2 for embedded")
    p.add_argument("--avatar", metavar="ID", help="answer as this avatar instead")
    p.add_argument("--max-tokens", type=int, help="longest reply in tokens")
    p.add_argument("--temperature", type=float, help="sampling temperature")
    p.add_argument("--compare", metavar="MODEL", help="also run MODEL, side by side")
    p.add_argument(
        "--export", metavar="FILE", type=Path, help="write the dialogue for bench/dialogue.py"
    )
    p.add_argument("--json", action="store_true", help="the replies as JSON")


def _body(args: argparse.Namespace, model: str | None) -> dict[str, Any]:
    fields = {
        "llm": args.llm,
        "model": model,
        "avatar_id": args.avatar,
        "max_reply_tokens": args.max_tokens,
        "temperature": args.temperature,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _show(ctx: Context, runs: list[dict[str, Any]]) -> None:
    """One turn: the recorded reply and each replay side by side, then the context."""
    first = runs[0]
    ctx.console.print(f"[bold]turn {first['turn_id']}[/bold]: {first['user_text']}", markup=True)
    columns = [first["recorded"], *(r["replayed"] for r in runs)]
    names = ["recorded", *("replayed" for _ in runs)]
    side = table("", *(f"{n} ({c['provider']})" for n, c in zip(names, columns, strict=True)))
    side.add_row("reply", *(c["text"] or "(nothing)" for c in columns))
    side.add_row(
        "tools",
        *(
            ", ".join(f"{t['name']} -> {t['result']}" for t in c["tool_calls"]) or "-"
            for c in columns
        ),
    )
    side.add_row("first token", *(_ms(c.get("first_token_ms")) for c in columns))
    side.add_row("total", *(_ms(c.get("total_ms")) for c in columns))
    ctx.console.print(side)
    context = first["context"]
    memories = ", ".join(
        f"{m['id'][:8]} ({m['score']:.2f})" + (" [gone]" if m["gone"] else "")
        if m.get("score") is not None
        else m["id"][:8] + (" [gone]" if m["gone"] else "")
        for m in context["memories"]
    )
    ctx.console.print(
        f"context at log position {context['position']}: "
        f"{len(context['history'])} history turns, memories: {memories or 'none'}",
        highlight=False,
    )
    for line in first["differences"]:
        ctx.console.print(f"[yellow]differs:[/yellow] {line}", markup=True, highlight=False)


def _dialogue(conversation_id: str, replays: list[dict[str, Any]]) -> dict[str, Any]:
    """The conversation in ``bench/dialogue.py``'s dialogue format."""
    turns = []
    preferred = None
    for replay in replays:
        context = replay["context"]
        preferred = preferred or context.get("preferred_name")
        turns.append(
            {
                "user": replay["user_text"],
                "memories": [m["text"] for m in context["memories"] if not m["gone"]],
                "expect": [],
                "reply": replay["recorded"]["text"],
            }
        )
    dialogue: dict[str, Any] = {"name": f"conversation {conversation_id}", "turns": turns}
    if preferred:
        dialogue["preferred_name"] = preferred
    return {"dialogues": [dialogue]}


@command("replay", "re-run recorded turns: the recorded reply beside a new one", _args)
def replay(args: argparse.Namespace, ctx: Context) -> int:
    if (args.turn_id is None) == (args.conversation is None):
        ctx.err.print("Name one turn, or a conversation with --conversation ID.")
        return 2
    with ctx.client() as client:
        if args.conversation is not None:
            conversation = client.get(f"/v1/conversations/{args.conversation}")
            turn_ids = [t["turn_id"] for t in conversation["turns"] if t["role"] == "user"]
        else:
            turn_ids = [args.turn_id]
        models = [args.model, *([args.compare] if args.compare else [])]
        results = []
        for turn_id in turn_ids:
            runs = [
                client.request("POST", f"/v1/turns/{turn_id}/replay", body=_body(args, model))
                for model in models
            ]
            results.append(runs)
            if not args.json:
                _show(ctx, runs)
    if args.json:
        print_json(ctx, [run for runs in results for run in runs])
    if args.export is not None:
        export = _dialogue(args.conversation or "", [runs[0] for runs in results])
        args.export.write_text(json.dumps(export, indent=2) + "\n")
        ctx.console.print(f"wrote {len(results)} turns to {args.export}", highlight=False)
    return 0
