"""What whisper wrote, made into the words heard: annotations dropped, decoder loops undone.

With its encoder window cut to the utterance, whisper's decoder sometimes loops: it repeats a
word, a phrase, or the whole sentence until ``max_tokens``. :func:`collapse_repeats` keeps one
copy; :func:`said_whole` tells a loop that had already heard the whole sentence (kept as it is)
from one that may have lost words (the final pass then decodes again with a wider window).
"""

from __future__ import annotations

import re

#: A looping decode that repeats one finished sentence with at least this many words per second
#: of audio heard it all (:func:`said_whole`).
_WHOLE_WORDS_PER_S = 1.5
_NON_SPEECH = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*")
#: A loop inside one hyphenated word: a piece of 1-3 syllables said 3+ times ("bieno-a-a-a-a-",
#: tiny.en on "piano as an adult"), and the hyphen a loop cut off by max_tokens leaves.
_HYPHEN_LOOP = re.compile(r"(?<![\w'])((?:[\w']+-){0,2}?[\w']+)(?:-\1){2,}(?![\w'])")
_DANGLING_HYPHEN = re.compile(r"(?<=[\w'])-+(?=[\s.,!?;:]|$)")


def _key(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalnum())


def _period(keys: list[str]) -> int | None:
    """How many words the phrase has that the whole text says 2+ times (``A. A. A``; the last
    copy may be cut off by max_tokens), or None."""
    n = len(keys)
    if n >= 4:
        for period in range(1, n // 2 + 1):
            body = all(keys[i] == keys[i % period] for i in range(n - 1))
            last, ref = keys[n - 1], keys[(n - 1) % period]
            if body and ref.startswith(last) and (last or not ref):
                return period
    return None


def said_whole(text: str, seconds: float) -> bool:
    """Whether a decode that looped had heard the whole utterance first: the text is one
    sentence said again and again, that sentence ends on ".", "?" or "!", and it has enough
    words for ``seconds`` of audio (a decoder that restarts after a finished sentence, as
    whisper does when its window is cut to the utterance: "How far away is the moon? How far
    away is the moon? How far away is the moon")."""
    words = text.split()
    period = _period([_key(w) for w in words])
    return (
        period is not None
        and words[period - 1].endswith((".", "?", "!"))
        and period >= seconds * _WHOLE_WORDS_PER_S
    )


def collapse_repeats(text: str) -> str:
    """Undo whisper's decoder loops: a whole phrase said again (``A. A. A``), runs of a short
    n-gram three or more times (``you, you, you``) and of a longer one (5+ words) twice, and a
    piece of a hyphenated word said three or more times (``bieno-a-a-a-a-``) are kept once."""
    looped = _HYPHEN_LOOP.sub(r"\1", text)
    if looped != text:
        text = _DANGLING_HYPHEN.sub("", looped)
    words = text.split()
    keys = [_key(w) for w in words]
    # whole text = one phrase said 2+ times (the last copy may be cut off by max_tokens)
    if (period := _period(keys)) is not None:
        return " ".join(words[:period])
    # consecutive runs of an n-gram: short ones (1-4 words) 3+ times, longer ones 2+ times;
    # a cut-off copy of the looping phrase at the very end goes too
    out_words, out_keys = list(words), list(keys)
    for size in range(1, 25):
        min_reps = 3 if size < 5 else 2
        i = 0
        while i + min_reps * size <= len(out_keys):
            gram = out_keys[i : i + size]
            reps = 1
            while out_keys[i + reps * size : i + (reps + 1) * size] == gram:
                reps += 1
            if reps >= min_reps:
                del out_words[i + size : i + reps * size]
                del out_keys[i + size : i + reps * size]
                tail = out_keys[i + size :]
                if size >= 3 and 0 < len(tail) < size:
                    misses = sum(not g.startswith(t) for g, t in zip(gram, tail, strict=False))
                    if misses <= len(tail) // 4:
                        del out_words[i + size :]
                        del out_keys[i + size :]
            i += 1
    # the text ends by repeating an earlier stretch of 6+ words (a loop cut off by max_tokens)
    n = len(out_keys)
    for m in range(n // 2, 5, -1):
        tail = out_keys[n - m :]
        if any(out_keys[p : p + m] == tail for p in range(0, n - 2 * m + 1)):
            del out_words[n - m :]
            break
    return " ".join(out_words)


def speech_only(text: str) -> str:
    """``text`` without whisper's non-speech annotations (``[BLANK_AUDIO]``, ``(music)``) and
    extra spaces."""
    return " ".join(_NON_SPEECH.sub(" ", text).split())
