"""How subcommands print: tables, JSON and API errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from lumina_cli.client import ApiError
from lumina_cli.registry import Context


def table(*columns: str) -> Table:
    """A table with a bold header whose cells wrap instead of being cut."""
    result = Table(show_header=True, header_style="bold")
    for col in columns:
        result.add_column(col, overflow="fold")
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
