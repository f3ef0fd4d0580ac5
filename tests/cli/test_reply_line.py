"""What a terminal shows while a reply streams: stdout and stderr share the screen, so a notice
that arrives mid-reply (a memory the previous turn's facts wrote, a tool call) must not split
the reply's words."""

from __future__ import annotations

import io
from pathlib import Path

from lumina_cli.output import ReplyLine
from lumina_cli.registry import Context
from rich.console import Console
from rich.text import Text

from luminad.settings import load_settings


def _screen(tmp: str) -> tuple[Context, io.StringIO]:
    screen = io.StringIO()
    console = Console(file=screen, width=200, color_system=None)
    ctx = Context(settings=load_settings({"LUMINA_HOME": tmp}), console=console, err=console)
    return ctx, screen


def test_a_notice_mid_reply_waits_for_the_end_of_its_line(tmp_path: Path) -> None:
    ctx, screen = _screen(str(tmp_path))
    line = ReplyLine(ctx)
    line.notice(Text("⚙ remember(fact: tea) → Okay."))  # before the reply: at once
    line.write("Lumina: ", "Pixel and Mango are ")
    line.notice(Text("(remembered: The user has two cats.)"))
    line.write("Lumina: ", "your cats.")
    line.end()
    line.notice(Text("⏰ timer: set"))
    assert screen.getvalue().splitlines() == [
        "⚙ remember(fact: tea) → Okay.",
        "Lumina: Pixel and Mango are your cats.",
        "(remembered: The user has two cats.)",
        "⏰ timer: set",
    ]


def test_an_interrupted_reply_ends_its_line_before_the_notices(tmp_path: Path) -> None:
    ctx, screen = _screen(str(tmp_path))
    line = ReplyLine(ctx)
    line.write("Lumina: ", "Once upon")
    line.notice(Text("(remembered: The user likes stories.)"))
    line.end(" (interrupted)")
    line.end(" (interrupted)")  # no reply on the line: nothing more
    assert screen.getvalue().splitlines() == [
        "Lumina: Once upon (interrupted)",
        "(remembered: The user likes stories.)",
    ]
