"""How subcommands print: tables, JSON and API errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from lumina_cli.client import ApiError
from lumina_cli.registry import Context
from luminad import protocol

#: Characters of an id shown in tables; any unique prefix (4 or more) is accepted back.
SHORT_ID = 8


def short_id(value: str) -> str:
    """An id as the tables show it (``--json`` keeps them whole)."""
    return value[:SHORT_ID]


def short_time(value: str) -> str:
    """An ISO timestamp to the minute: ``2026-11-26 14:05``."""
    return value[:16].replace("T", " ")


def table(*columns: str) -> Table:
    """A table with a bold header whose cells wrap instead of being cut; an ``id`` column
    never wraps (it is what you type back)."""
    result = Table(show_header=True, header_style="bold")
    for col in columns:
        result.add_column(col, overflow="fold", no_wrap=col == "id")
    return result


def print_json(ctx: Context, data: Any) -> None:
    """``data`` as pretty JSON on the console."""
    ctx.console.print_json(json.dumps(data))


def print_items(
    ctx: Context,
    items: list[dict[str, Any]],
    *,
    as_json: bool,
    columns: Sequence[str],
    row: Callable[[dict[str, Any]], Sequence[str]],
    empty: str | None = None,
) -> None:
    """A list from the API as JSON or as a table of ``row(item)`` (``empty`` when none)."""
    if as_json:
        print_json(ctx, items)
        return
    if not items and empty is not None:
        ctx.console.print(empty)
        return
    result = table(*columns)
    for item in items:
        result.add_row(*row(item))
    ctx.console.print(result)


def print_error(ctx: Context, exc: ApiError) -> None:
    """An API error on stderr: the message, its code, and what to do."""
    ctx.err.print(Text.assemble((exc.message, "red"), (f" ({exc.code})", "dim")))
    if exc.action:
        ctx.err.print(exc.action, markup=False)


def tool_line(call: protocol.ToolCall) -> Text:
    """``⚙ set_timer(seconds: 300) → Timer set for 5 minutes.`` (red when the tool failed)."""
    args = ", ".join(f"{k}: {v}" for k, v in call.arguments.items())
    return Text.assemble(
        ("⚙ ", "dim"),
        (call.name, "cyan" if call.ok else "red"),
        (f"({args})" if args else "", "dim"),
        (f" → {call.result}", "dim" if call.ok else "red"),
    )


def timer_line(timer: protocol.TimerChanged) -> Text:
    """``⏰ tea: set, due 14:05:00`` in local time."""
    from datetime import datetime

    due = datetime.fromisoformat(timer.due_at).astimezone().strftime("%H:%M:%S")
    what = timer.label or "timer"
    match timer.state:
        case "set":
            return Text(f"⏰ {what}: set, due {due}", style="dim")
        case "fired":
            return Text(f"⏰ {what}: time is up ({due})", style="bold yellow")
        case _:
            return Text(f"⏰ {what}: cancelled", style="dim")


class ReplyLine:
    """The reply being streamed onto one line of the terminal, and the notices that arrive
    meanwhile (a memory an earlier turn wrote, a tool call, a timer): on a terminal stdout and
    stderr share the screen, so a notice printed mid-reply would split the reply's words. Once
    the reply's first words are out, notices wait for the line's end."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._waiting: list[Text] = []
        #: Whether a reply is on its line (its first words printed, the line not ended).
        self.open = False

    def write(self, prefix: str, delta: str) -> None:
        """Print a delta of the reply; its first opens the line with ``prefix`` (markup)."""
        if not self.open:
            self._ctx.console.print(prefix, end="")
            self.open = True
        self._ctx.console.print(delta, end="", markup=False, highlight=False)

    def end(self, suffix: str = "") -> None:
        """End the reply's line (after ``suffix``, markup), then print the notices it held."""
        if self.open:
            self._ctx.console.print(suffix)
        self.open = False
        for notice in self._waiting:
            self._ctx.err.print(notice)
        self._waiting.clear()

    def notice(self, text: Text) -> None:
        """A notice on stderr: now, or after the reply's line when one is open."""
        if self.open:
            self._waiting.append(text)
        else:
            self._ctx.err.print(text)
