"""Word error rate, used by the deep health check, model verification and tests."""

from __future__ import annotations

import re
from collections.abc import Sequence

_NUMBER_WORDS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five",
    "6": "six", "7": "seven", "8": "eight", "9": "nine", "10": "ten",
}  # fmt: skip
#: Contractions whose long form is certain, spelled out as whisper's own English normaliser does
#: (whisper writes "let's" for "let us" as readily as the other way round). "'s" and "'d" are
#: left alone: "it's" may be "it is" or "it has".
_CONTRACTIONS = (
    (re.compile(r"\blet's\b"), "let us"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bcannot\b"), "can not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"\bi'm\b"), "i am"),
)


def normalize_words(text: str) -> list[str]:
    """Lower-case words without punctuation; single digits spelled out; hyphens split words;
    certain contractions spelled out."""
    text = text.lower().replace("-", " ").replace("’", "'")
    for pattern, long_form in _CONTRACTIONS:
        text = pattern.sub(long_form, text)
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
