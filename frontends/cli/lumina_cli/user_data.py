"""``lumina memories``, ``lumina conversations``, ``lumina avatars`` and ``lumina profile``: what
Lumina keeps about you."""

from __future__ import annotations

import argparse
from typing import Any

from lumina_cli.output import print_items, print_json, short_id, short_time
from lumina_cli.registry import Context, command


def _memories_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action")
    ls = sub.add_parser("list", help="every memory")
    ls.add_argument("--avatar")
    ls.add_argument("--json", action="store_true")
    search = sub.add_parser("search", help="semantic search")
    search.add_argument("query")
    search.add_argument("--avatar")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--json", action="store_true")
    add = sub.add_parser("add", help="remember something")
    add.add_argument("text")
    add.add_argument("--avatar")
    rm = sub.add_parser("delete", help="forget one memory")
    rm.add_argument("id")


@command("memories", "list, search, add and delete what Lumina remembers", _memories_args)
def memories(args: argparse.Namespace, ctx: Context) -> int:
    action = args.action or "list"
    with ctx.client() as client:
        if action == "delete":
            receipt = client.request("DELETE", f"/v1/memories/{args.id}")
            _print_receipt(ctx, receipt)
            return 0
        if action == "add":
            body = {"text": args.text, "avatar_id": args.avatar}
            memory = client.request("POST", "/v1/memories", body=body)
            ctx.console.print(f"Remembered ({memory['id']}).")
            return 0
        if action == "search":
            items = client.get(
                "/v1/memories", q=args.query, avatar_id=args.avatar, limit=args.limit
            )
        else:
            items = client.get("/v1/memories", avatar_id=getattr(args, "avatar", None))
    print_items(
        ctx,
        items,
        as_json=getattr(args, "json", False),
        columns=("id", "text", "score", "created"),
        row=_memory_row,
        empty="No memories.",
    )
    return 0


def _print_receipt(ctx: Context, receipt: dict[str, Any]) -> None:
    shredded = (
        f"its key destroyed, {receipt['events_shredded']} event(s) in the log now read [shredded]"
        if receipt["key_destroyed"]
        else "it was written before per-item keys, so the log still holds it until forget-me"
    )
    ctx.console.print(
        f"Deleted {receipt['deleted']} {receipt['id']}: {shredded}.", markup=False, highlight=False
    )


def _conversations_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action")
    ls = sub.add_parser("list", help="recent conversations, newest first")
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--json", action="store_true")
    rm = sub.add_parser("delete", help="delete one conversation and shred it in the log")
    rm.add_argument("id")


@command("conversations", "list and delete your conversations", _conversations_args)
def conversations(args: argparse.Namespace, ctx: Context) -> int:
    action = args.action or "list"
    with ctx.client() as client:
        if action == "delete":
            _print_receipt(ctx, client.request("DELETE", f"/v1/conversations/{args.id}"))
            return 0
        items = client.get("/v1/conversations", limit=getattr(args, "limit", 20))
    print_items(
        ctx,
        items,
        as_json=getattr(args, "json", False),
        columns=("id", "started", "turns", "first words"),
        row=lambda c: (
            c["id"],
            c["started_at"][:16],
            str(len(c["turns"])),
            (c["turns"][0]["text"][:40] if c["turns"] else ""),
        ),
        empty="No conversations.",
    )
    return 0


def _memory_row(m: dict[str, Any]) -> tuple[str, ...]:
    score = f"{m['score']:.2f}" if m.get("score") is not None else ""
    return short_id(m["id"]), m["text"], score, short_time(m.get("created_at", ""))


def _avatars_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action")
    ls = sub.add_parser("list")
    ls.add_argument("--json", action="store_true")
    create = sub.add_parser("create")
    create.add_argument("name")
    for sp in (create, upd := sub.add_parser("update")):
        sp.add_argument("--persona")
        sp.add_argument("--style")
        sp.add_argument("--voice")
    upd.add_argument("id")
    upd.add_argument("--name")
    rm = sub.add_parser("delete")
    rm.add_argument("id")


@command("avatars", "the personas Lumina can take (name, persona, style, voice)", _avatars_args)
def avatars(args: argparse.Namespace, ctx: Context) -> int:
    action = args.action or "list"
    with ctx.client() as client:
        if action == "create":
            body = {"name": args.name, "persona": args.persona or "", "style": args.style or ""}
            if args.voice:
                body["voice"] = args.voice
            avatar = client.request("POST", "/v1/avatars", body=body)
            ctx.console.print(f"Created avatar {avatar['name']} ({avatar['id']}).")
            return 0
        if action == "update":
            patch = {
                k: getattr(args, k)
                for k in ("name", "persona", "style", "voice")
                if getattr(args, k) is not None
            }
            avatar = client.request("PATCH", f"/v1/avatars/{args.id}", body=patch)
            ctx.console.print(f"Updated avatar {avatar['name']} ({avatar['id']}).")
            return 0
        if action == "delete":
            client.request("DELETE", f"/v1/avatars/{args.id}")
            ctx.console.print(f"Deleted avatar {args.id}.")
            return 0
        items = client.get("/v1/avatars")
    print_items(
        ctx,
        items,
        as_json=getattr(args, "json", False),
        columns=("id", "name", "voice", "persona", "style", "builtin"),
        row=_avatar_row,
    )
    return 0


def _avatar_row(a: dict[str, Any]) -> tuple[str, ...]:
    builtin = "yes" if a["builtin"] else ""
    return short_id(a["id"]), a["name"], a["voice"], a["persona"], a["style"], builtin


def _profile_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="what Lumina should call you")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a preference")
    p.add_argument("--json", action="store_true")


@command("profile", "your preferred name and preferences", _profile_args)
def profile(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        if args.name is not None or args.set:
            prefs: dict[str, str] = {}
            for item in args.set:
                key, sep, value = item.partition("=")
                if not sep or not key.strip():
                    ctx.err.print(f"--set needs KEY=VALUE, not {item!r}")
                    return 2
                prefs[key.strip()] = value
            data = client.request(
                "PUT", "/v1/profile", body={"preferred_name": args.name, "preferences": prefs}
            )
        else:
            data = client.get("/v1/profile")
    if args.json:
        print_json(ctx, data)
        return 0
    ctx.console.print(f"preferred name: {data.get('preferred_name') or '(not set)'}")
    for key, value in sorted((data.get("preferences") or {}).items()):
        ctx.console.print(f"  {key} = {value}")
    return 0
