"""Word error rate, used by the deep health check, model verification and tests."""

from __future__ import annotations

import re
from collections.abc import Sequence

_NUMBER_WORDS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five",
    "6": "six", "7": "seven", "8": "eight", "9": "nine", "10": "ten",
}  # fmt: skip


def normalize_words(text: str) -> list[str]:
    """Lower-case words without punctuation; single digits spelled out; hyphens split words."""
    text = text.lower().replace("-", " ").replace("’", "'")
    words = re.findall(r"[a-z0-9']+", text)
    return [_NUMBER_WORDS.get(w, w) for w in (w.strip("'") for w in words) if w]


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance over words."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(ref: str, hyp: str) -> float:
    """Word error rate of ``hyp`` against ``ref`` (0.0 perfect; can exceed 1.0)."""
    r, h = normalize_words(ref), normalize_words(hyp)
    if not r:
        return 0.0 if not h else 1.0
    return edit_distance(r, h) / len(r)
