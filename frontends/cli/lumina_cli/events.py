"""``lumina events`` (the event log, and ``audit`` of forget-me), ``lumina egress`` (what left
the machine) and ``lumina forget-me``."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from lumina_cli.output import print_json, table
from lumina_cli.registry import Context, command

FORGET_ME_PHRASE = "forget me"


def _events_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        nargs="?",
        choices=["audit", "verify"],
        help="audit: re-check forget-me; verify: check the log's hash chain",
    )
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    p.add_argument("--type", action="append", default=[], help="only events of this type")
    p.add_argument("--after", type=int, default=0, help="start after this position")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true", help="one JSON object per line")


def _print_events(ctx: Context, items: list[dict[str, Any]], as_json: bool) -> None:
    for e in items:
        if as_json:
            print(json.dumps(e), flush=True)
            continue
        data = e.get("data")
        summary = data if isinstance(data, str) else json.dumps(data)
        if len(summary) > 120:
            summary = summary[:117] + "..."
        ctx.console.print(
            f"[dim]{e['position']:>6}[/dim] {e['at']} [bold]{e['type']}[/bold] "
            f"{e['aggregate_id']} v{e['version']} {summary}",
            highlight=False,
            markup=True,
        )


def _verify(ctx: Context, result: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print_json(ctx, result)
    elif result["ok"]:
        ctx.console.print(
            f"[green]ok[/green]: {result['events']} events chained, head {result['head']}"
        )
    else:
        ctx.console.print(
            f"[red]broken[/red] at position {result['broken_at']}: the event there was changed "
            f"or removed ({result['events']} events before it hold, head {result['head']})"
        )
    return 0 if result["ok"] else 1


@command(
    "events",
    "the event log (`audit` re-checks forget-me, `verify` checks the hash chain)",
    _events_args,
)
def events(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        if args.action == "verify":
            return _verify(ctx, client.get("/v1/events/verify"), args.json)
        if args.action == "audit":
            audit = client.get("/v1/audit/forget-me")
            if args.json:
                print_json(ctx, audit)
            else:
                checks = table("check", "ok", "detail")
                for c in audit["checks"]:
                    ok = "[green]yes[/green]" if c["ok"] else "[red]no[/red]"
                    checks.add_row(c["name"], ok, c.get("detail", ""))
                ctx.console.print(checks)
            return 0 if audit["ok"] else 1
        after = args.after
        while True:
            params: list[tuple[str, Any]] = [("after", after), ("limit", args.limit)]
            params += [("type", t) for t in args.type]
            items = client.request("GET", "/v1/events", params=params)
            _print_events(ctx, items, args.json)
            if items:
                after = items[-1]["position"]
            if not args.follow:
                return 0
            if len(items) < args.limit:
                time.sleep(1.0)


def _egress_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true", help="print JSON")


@command("egress", "every request that left this machine (web search), newest first", _egress_args)
def egress(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        items = client.request("GET", "/v1/egress", params=[("limit", args.limit)])
    if args.json:
        print_json(ctx, items)
        return 0
    if not items:
        ctx.console.print("Nothing has left this machine.")
        return 0
    rows = table("at", "kind", "host", "query")
    for e in items:
        rows.add_row(e["at"][:19], e["kind"], e["host"], e["query"])
    ctx.console.print(rows)
    return 0


def _forget_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--confirm", help='type "forget me" here to skip the question (scripts)')


@command("forget-me", "delete everything Lumina knows about you (asks first)", _forget_args)
def forget_me(args: argparse.Namespace, ctx: Context) -> int:
    answer = args.confirm
    if answer is None:
        ctx.console.print(
            "This deletes every conversation, memory and preference, for good. "
            f"Type [bold]{FORGET_ME_PHRASE}[/bold] to go on:"
        )
        try:
            answer = input("> ")
        except EOFError:
            answer = ""
    if answer.strip().lower() != FORGET_ME_PHRASE:
        ctx.console.print("Nothing was deleted.")
        return 1
    with ctx.client() as client:
        receipt = client.request("POST", "/v1/forget-me", body={"confirm": FORGET_ME_PHRASE})
    ctx.console.print(
        f"Forgotten at {receipt['forgotten_at']}: {receipt['events_shredded']} events shredded, "
        f"{receipt['rows_purged']} rows purged, key {receipt['key_id']} destroyed "
        f"({receipt['duration_ms']:.0f} ms). `lumina events audit` re-checks it."
    )
    return 0
