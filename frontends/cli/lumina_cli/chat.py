"""``lumina chat`` and ``lumina say``: typed turns over the voice-session WebSocket."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.text import Text

from lumina_cli.client import ApiError, open_session
from lumina_cli.output import ReplyLine, print_error, timer_line, tool_line
from lumina_cli.registry import Context, command
from luminad import protocol

INTERNET_ON = "[bold yellow]Internet mode is ON:[/bold yellow] web searches leave this computer."
INTERNET_OFF = "[dim]Internet mode is off: nothing leaves this computer.[/dim]"


def _chat_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--conversation", help="resume this conversation id")
    p.add_argument("--avatar", help="talk to this avatar id")
    p.add_argument(
        "--internet",
        action="store_true",
        help="switch internet mode on: Lumina may search the web (every request is logged)",
    )


async def _turn(session: Any, text: str, ctx: Context, prefix: str) -> protocol.AssistantDone:
    """Send one typed turn and stream the reply to the console."""
    await session.send(protocol.Text(text=text))
    line = ReplyLine(ctx)
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
                line.write(prefix, delta)
            case protocol.AssistantDone():
                if not line.open:  # an empty reply: the avatar's name all the same
                    line.write(prefix, "")
                line.end()
                for source in message.sources:
                    ctx.console.print(Text(f"  source: {source.title} {source.url}", style="dim"))
                done = message
            case protocol.TurnTiming() if done is not None:
                return done  # the turn's last message: the reply is stored by now
            case protocol.Error(code="tool_failed", turn_id=None):
                line.notice(Text(f"({message.message})", style="red"))  # the turn goes on
            case protocol.Error(code=code, message=msg, action=action):
                line.end()
                raise ApiError(400, code, msg, action)
            case protocol.MemoryWritten(text=memory):
                line.notice(Text(f"(remembered: {memory})", style="dim"))
            case protocol.ToolCall():
                line.notice(tool_line(message))
            case protocol.TimerChanged():
                line.notice(timer_line(message))
            case _:
                continue


async def _chat(args: argparse.Namespace, ctx: Context, once: str | None) -> int:
    async with open_session(ctx.settings) as session:
        ready = await session.hello(
            tts=False, conversation_id=args.conversation, avatar_id=args.avatar
        )
        name = ready.avatar.name
        prefix = f"[bold magenta]{name}:[/bold magenta] "
        if args.internet:
            await session.set_internet(True)
            ctx.err.print(INTERNET_ON)
        if once is not None:
            await _turn(session, once, ctx, prefix)
            return 0
        ctx.err.print(
            f"[dim]conversation {ready.conversation_id} with {name}; "
            "/internet on|off switches web search; type /quit (or Ctrl-D) to leave[/dim]"
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
            if line in {"/internet on", "/internet off"}:
                try:
                    await session.set_internet(line.endswith("on"))
                except ApiError as exc:
                    print_error(ctx, exc)
                else:
                    ctx.err.print(INTERNET_ON if line.endswith("on") else INTERNET_OFF)
                continue
            turn_task = asyncio.ensure_future(_turn(session, line, ctx, prefix))
            try:
                await turn_task
            except KeyboardInterrupt:
                await session.send(protocol.Cancel(reason="user"))
            except ApiError as exc:
                print_error(ctx, exc)


@command("chat", "type to Lumina; replies stream as they are written", _chat_args)
def chat(args: argparse.Namespace, ctx: Context) -> int:
    return asyncio.run(_chat(args, ctx, None))


def _say_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="what to say to Lumina")
    _chat_args(p)


@command("say", "send one message and print the reply", _say_args)
def say(args: argparse.Namespace, ctx: Context) -> int:
    return asyncio.run(_chat(args, ctx, args.text))
