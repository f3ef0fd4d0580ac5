"""bench/RESULTS.md: each benchmark script owns one ``## `` section of it."""

from __future__ import annotations

import re
from pathlib import Path

PATH = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(title: str, text: str) -> None:
    """Put ``text`` (which starts with ``## {title}``) in place of that section of RESULTS.md,
    up to the next ``## `` heading, or append it when the file has none yet."""
    old = PATH.read_text() if PATH.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = text.rstrip() + "\n\n"
    new = (
        pattern.sub(lambda _: block, old, count=1)
        if pattern.search(old)
        else old.rstrip() + "\n\n" + block
    )
    PATH.write_text(new)


def publish(title: str, text: str, *, write: bool) -> None:
    """Print a benchmark's section and, when asked (``--write``), put it in RESULTS.md."""
    print()
    print(text, flush=True)
    if write:
        write_section(title, text)
        print("written to bench/RESULTS.md", flush=True)
