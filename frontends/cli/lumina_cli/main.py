"""``lumina``: talk to and manage the Lumina daemon from a terminal (over its Unix socket).

Subcommands live in one registry (:data:`COMMANDS`); a module adds its own with
:func:`command` (``lumina_cli.talk`` does this for ``lumina talk``) and is listed in
:data:`PLUGINS` so :func:`main` imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lumina_cli.client import (
    EXIT_NOT_RUNNING,
    NOT_RUNNING,
    ApiError,
    DaemonClient,
    NotRunning,
    open_session,
)
from luminad import protocol
from luminad.settings import Settings, load_settings

#: Modules that register more subcommands when imported (missing ones are skipped).
PLUGINS: tuple[str, ...] = ("lumina_cli.talk",)
FORGET_ME_PHRASE = "forget me"


@dataclass
class Context:
    """What every subcommand gets: settings, a console, and the daemon client."""

    settings: Settings
    console: Console
    err: Console

    def client(self) -> DaemonClient:
        return DaemonClient(self.settings)


Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace, Context], int]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Run
    configure: Configure | None = None


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, configure: Configure | None = None) -> Callable[[Run], Run]:
    """Register ``lumina <name>``: ``@command("talk", "speak to Lumina", add_args)``."""

    def register(run: Run) -> Run:
        COMMANDS[name] = Command(name=name, help=help, run=run, configure=configure)
        return run

    return register


# ---------------------------------------------------------------------------- helpers
def _table(*columns: str) -> Table:
    table = Table(show_header=True, header_style="bold")
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


def _json_out(ctx: Context, data: Any) -> None:
    ctx.console.print_json(json.dumps(data))


# ---------------------------------------------------------------------------- chat / say
def _chat_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--conversation", help="resume this conversation id")
    p.add_argument("--avatar", help="talk to this avatar id")


async def _turn(session: Any, text: str, ctx: Context, prefix: str) -> protocol.AssistantDone:
    """Send one typed turn and stream the reply to the console."""
    await session.send(protocol.Text(text=text))
    ctx.console.print(prefix, end="")
    done: protocol.AssistantDone | None = None
    while True:
        if done is None:
            message = await session.receive()
        else:
            try:
                message = await asyncio.wait_for(session.receive(), 10)
            except TimeoutError:
                return done
        match message:
            case protocol.AssistantDelta(text=delta):
                ctx.console.print(delta, end="", markup=False, highlight=False)
            case protocol.AssistantDone():
                ctx.console.print()
                for source in message.sources:
                    ctx.console.print(Text(f"  source: {source.title} {source.url}", style="dim"))
                done = message
            case protocol.TurnTiming() if done is not None:
                return done  # the turn's last message: the reply is stored by now
            case protocol.Error(code=code, message=msg, action=action):
                ctx.console.print()
                raise ApiError(400, code, msg, action)
            case protocol.MemoryWritten(text=memory):
                ctx.err.print(Text(f"(remembered: {memory})", style="dim"))
            case _:
                continue


async def _chat(args: argparse.Namespace, ctx: Context, once: str | None) -> int:
    async with open_session(ctx.settings) as session:
        ready = await session.hello(
            tts=False, conversation_id=args.conversation, avatar_id=args.avatar
        )
        name = ready.avatar.name
        prefix = f"[bold magenta]{name}:[/bold magenta] "
        if once is not None:
            await _turn(session, once, ctx, prefix)
            return 0
        ctx.err.print(
            f"[dim]conversation {ready.conversation_id} with {name}; "
            "type /quit (or Ctrl-D) to leave[/dim]"
        )
        for turn in ready.history:
            who = name if turn.role == "assistant" else "you"
            ctx.console.print(Text(f"{who}: {turn.text}", style="dim"))
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                ctx.console.print()
                return 0
            line = line.strip()
            if not line:
                continue
            if line in {"/quit", "/exit"}:
                return 0
            turn_task = asyncio.ensure_future(_turn(session, line, ctx, prefix))
            try:
                await turn_task
            except KeyboardInterrupt:
                await session.send(protocol.Cancel(reason="user"))
            except ApiError as exc:
                _print_error(ctx, exc)


@command("chat", "type to Lumina; replies stream as they are written", _chat_args)
def chat(args: argparse.Namespace, ctx: Context) -> int:
    return asyncio.run(_chat(args, ctx, None))


def _say_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="what to say to Lumina")
    _chat_args(p)


@command("say", "send one message and print the reply", _say_args)
def say(args: argparse.Namespace, ctx: Context) -> int:
    return asyncio.run(_chat(args, ctx, args.text))


# ---------------------------------------------------------------------------- doctor
def _doctor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deep", action="store_true", help="also speak and listen (Piper -> whisper)")
    p.add_argument("--json", action="store_true")


@command("doctor", "what works, what does not, and what to do about it", _doctor_args)
def doctor(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        health = client.get("/v1/health", deep=1 if args.deep else None)
    if args.json:
        _json_out(ctx, health)
        return 0 if health.get("ok") else 1
    table = _table("engine", "ok", "model", "detail", "action")
    for name, engine in sorted(health.get("engines", {}).items()):
        ok = "[green]yes[/green]" if engine.get("ok") else "[red]no[/red]"
        detail = engine.get("detail", "")
        timings = engine.get("timings_ms") or {}
        if timings:
            detail += " " + ", ".join(f"{k} {v:.0f} ms" for k, v in timings.items())
        table.add_row(name, ok, engine.get("model", ""), detail, engine.get("action") or "")
    ctx.console.print(table)
    status = health.get("status", "ready")
    if health.get("deep_wer") is not None:
        ctx.console.print(f"deep check word error rate: {health['deep_wer']:.2f}")
    if health.get("ok"):
        ctx.console.print(f"[green]Lumina is {status} and healthy.[/green]")
        return 0
    ctx.console.print(f"[yellow]Lumina is {status}; see the actions above.[/yellow]")
    return 1


# ---------------------------------------------------------------------------- memories
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
            client.request("DELETE", f"/v1/memories/{args.id}")
            ctx.console.print(f"Forgot memory {args.id}.")
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
    if getattr(args, "json", False):
        _json_out(ctx, items)
        return 0
    table = _table("id", "text", "score", "created")
    for m in items:
        score = f"{m['score']:.2f}" if m.get("score") is not None else ""
        table.add_row(m["id"], m["text"], score, m.get("created_at", ""))
    ctx.console.print(table if items else "No memories.")
    return 0


# ---------------------------------------------------------------------------- avatars
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
    if getattr(args, "json", False):
        _json_out(ctx, items)
        return 0
    table = _table("id", "name", "voice", "persona", "style", "builtin")
    for a in items:
        table.add_row(
            a["id"], a["name"], a["voice"], a["persona"], a["style"], "yes" if a["builtin"] else ""
        )
    ctx.console.print(table)
    return 0


# ---------------------------------------------------------------------------- profile
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
        _json_out(ctx, data)
        return 0
    ctx.console.print(f"preferred name: {data.get('preferred_name') or '(not set)'}")
    for key, value in sorted((data.get("preferences") or {}).items()):
        ctx.console.print(f"  {key} = {value}")
    return 0


# ---------------------------------------------------------------------------- events
def _events_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=["audit"], help="audit: re-check forget-me")
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


@command("events", "the event log (`lumina events audit` re-checks forget-me)", _events_args)
def events(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        if args.action == "audit":
            audit = client.get("/v1/audit/forget-me")
            if args.json:
                _json_out(ctx, audit)
            else:
                table = _table("check", "ok", "detail")
                for c in audit["checks"]:
                    ok = "[green]yes[/green]" if c["ok"] else "[red]no[/red]"
                    table.add_row(c["name"], ok, c.get("detail", ""))
                ctx.console.print(table)
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


# ---------------------------------------------------------------------------- forget-me
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


# ---------------------------------------------------------------------------- open
@command("open", "print the URL that logs a browser in to Lumina's web page")
def open_url(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        client.get("/v1/health")  # is it running?
    try:
        token = ctx.settings.token_path.read_text().strip()
    except FileNotFoundError:
        ctx.err.print(f"No token at {ctx.settings.token_path}: start Lumina with `luminad serve`.")
        return 1
    print(f"{ctx.settings.http_url}/login?token={token}")
    return 0


# ---------------------------------------------------------------------------- main
def _print_error(ctx: Context, exc: ApiError) -> None:
    ctx.err.print(Text.assemble((exc.message, "red"), (f" ({exc.code})", "dim")))
    if exc.action:
        ctx.err.print(exc.action, markup=False)


def load_plugins(names: Sequence[str] = PLUGINS) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lumina", description="Talk to Lumina and manage it.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        if cmd.configure is not None:
            cmd.configure(p)
    return parser


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None) -> int:
    """Entry point of the ``lumina`` script."""
    load_plugins()
    args = build_parser().parse_args(argv)
    ctx = Context(
        settings=settings or load_settings(),
        console=Console(highlight=False),
        err=Console(stderr=True, highlight=False),
    )
    try:
        return COMMANDS[args.command].run(args, ctx)
    except NotRunning:
        print(NOT_RUNNING, file=sys.stderr)
        return EXIT_NOT_RUNNING
    except ApiError as exc:
        _print_error(ctx, exc)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
