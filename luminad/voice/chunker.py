"""Sentence chunking of a streamed reply, for text-to-speech.

A pure, synchronous class: :meth:`SentenceChunker.add` takes an LLM text delta and returns the
chunks that are ready to speak; :meth:`SentenceChunker.finish` returns the rest. Sentences end
at ``.``, ``!``, ``?`` (or a newline) followed by white space, except after common
abbreviations, initials and inside numbers. For low latency the first chunk may end early at a
clause boundary (``,`` ``;`` ``:`` or a dash) once it has a few words, and any chunk is cut at a
word boundary when it grows too long without punctuation.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "eg", "ie",
        "approx", "no", "fig", "inc", "ltd", "co", "mt", "jan", "feb", "mar", "apr", "jun", "jul",
        "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "a.m", "p.m",
    }
)  # fmt: skip
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)|\n+")
_CLAUSE_END = re.compile(r"[,;:]+(?=\s)|\s[-–—]+(?=\s)")
_MARKDOWN = re.compile(r"(\*\*|__|\*|`+|^#+\s*|^\s*[-*]\s+)", re.MULTILINE)
_SPACES = re.compile(r"\s+")


def speakable(text: str) -> str:
    """``text`` without markdown markup and with collapsed white space."""
    return _SPACES.sub(" ", _MARKDOWN.sub("", text)).strip()


def _is_abbreviation(buf: str, dot_index: int) -> bool:
    """Whether the ``.`` at ``dot_index`` ends an abbreviation or an initial, not a sentence."""
    if buf[dot_index] != ".":
        return False
    start = dot_index
    while start > 0 and not buf[start - 1].isspace():
        start -= 1
    word = buf[start:dot_index].lower().strip("\"'(")
    if not word:
        return False
    if word in _ABBREVIATIONS:
        return True
    return len(word) == 1 and word.isalpha() and buf[start:dot_index].strip("\"'(").isupper()


class SentenceChunker:
    """Streams text deltas into speakable chunks (see the module docstring)."""

    def __init__(
        self,
        *,
        first_clause_min_words: int = 3,
        first_max_words: int = 12,
        max_words: int = 40,
    ) -> None:
        self.first_clause_min_words = first_clause_min_words
        self.first_max_words = first_max_words
        self.max_words = max_words
        self._buf = ""
        self.emitted = 0

    def add(self, delta: str) -> list[str]:
        self._buf += delta
        out: list[str] = []
        while True:
            chunk = self._next_chunk()
            if chunk is None:
                break
            if chunk:
                out.append(chunk)
                self.emitted += 1
        return out

    def finish(self) -> list[str]:
        rest = speakable(self._buf)
        self._buf = ""
        if not rest or not any(c.isalnum() for c in rest):
            return []
        self.emitted += 1
        return [rest]

    # ------------------------------------------------------------------ internals
    def _take(self, end: int) -> str:
        piece, self._buf = self._buf[:end], self._buf[end:]
        text = speakable(piece)
        return text if any(c.isalnum() for c in text) else ""

    def _next_chunk(self) -> str | None:
        buf = self._buf
        for m in _SENTENCE_END.finditer(buf):
            if m.group().startswith("\n"):
                return self._take(m.end())
            if _is_abbreviation(buf, m.start()):
                continue
            return self._take(m.end())
        words = buf.split()
        first = self.emitted == 0
        if first:
            for m in _CLAUSE_END.finditer(buf):
                if len(buf[: m.start()].split()) >= self.first_clause_min_words:
                    return self._take(m.end())
        limit = self.first_max_words if first else self.max_words
        # Only cut on a word boundary we are sure of: the buffer must end in white space or
        # have more words after the cut.
        if len(words) > limit:
            cut = _word_boundary(buf, limit)
            if cut is not None:
                return self._take(cut)
        return None


def _word_boundary(buf: str, n_words: int) -> int | None:
    """Index just after the ``n_words``-th word, if a following word has started."""
    for count, m in enumerate(re.finditer(r"\S+", buf), start=1):
        if count == n_words:
            return m.end() if m.end() < len(buf) else None
    return None
