"""The end-of-turn judge's quality: does a finished utterance end at its first pause, and does an
unfinished one stay open?

Each phrase is said by espeak-ng (175 words per minute, 48 kHz) and heard as the daemon hears it:
300 ms of pre-roll, the speech, then silence, through the session's streaming resampler to
16 kHz; and heard again with the speech later by 5, 10 and 15 ms (``SHIFTS_MS``): where a
phrase falls on the daemon's 20 ms frames is chance, and both the recogniser and the sound
model read it differently (ad hoc, the first half of "Remind me what we talked about ... a
moment ago." was heard "... talk to about." at some shifts, held open by the words, and "...
talk to out." at others, left to the sound). The judge's two inputs are measured as the
daemon takes them:

* **words**: the final pass of the utterance at ``QUIET_MS`` (40 ms) of silence, the pass the
  daemon starts then, and :meth:`TurnJudge.by_words` on its text (unfinished / a whole question /
  undecided);
* **sound**: the smart-turn model's P(complete) at ``SMART_PAUSE_MS`` (60 ms) of silence, where
  the daemon asks it, and at 200 ms, the latest the latency issue allows, with the model's time
  per decision;
* **the words' model**: SmolLM2's P(end of turn) after the words of that pass
  (:class:`~luminad.providers.text_turn.TextTurn`), with its time per decision.

For each rule that judges what the rules on the words leave open (the sound alone at a threshold,
the words' model alone, the daemon's combination) it counts the finished phrases that end at once
(the rules on the words say complete, or they leave it open and the rule says complete) and the
unfinished ones cut (the same verdict on a phrase the user had not finished). The finished phrases
are the voice benchmark's utterances (a paused one said whole) and everyday commands and
statements; the unfinished ones are the first halves of its paused utterances and more sentences
broken off. espeak-ng says each broken-off phrase with the falling pitch of a finished sentence,
which a person pausing mid-sentence does not: the sound model is measured on harder audio than a
user's.

Usage::

    .venv/bin/python bench/turn_judge.py --write
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import publish  # noqa: E402
from bench.voice import RATE, UTTERANCES, load_text, machine, speak  # noqa: E402
from luminad.providers.base import Pcm16, SpeechToText  # noqa: E402
from luminad.providers.registry import load_turn_judge  # noqa: E402
from luminad.providers.smart_turn import (  # noqa: E402
    SURE_P,
    WORDS_END_P,
    WORDS_MAYBE_P,
    WORDS_SURE_P,
    TurnJudge,
)
from luminad.providers.speech_setup import load_stt  # noqa: E402
from luminad.providers.whisper import whisper_source  # noqa: E402
from luminad.settings import load_settings  # noqa: E402
from luminad.voice.audio import Resampler  # noqa: E402
from luminad.voice.intake import QUIET_MS  # noqa: E402
from luminad.voice.transcribe import transcribe  # noqa: E402
from luminad.voice.tuning import PREROLL_MS, SMART_PAUSE_MS  # noqa: E402

FINISHED = [" ".join(u) for u in UTTERANCES] + [
    "Turn off the lights in the kitchen.",
    "Play some relaxing music.",
    "Remember that my sister's birthday is in June.",
    "Set a timer for ten minutes.",
    "Tell me a joke.",
    "I love hiking in the mountains.",
    "That sounds great, thanks.",
    "Add milk and eggs to my shopping list.",
    "Call me Sam from now on.",
    "Please stop.",
    "Good morning.",
    "I had a long day at work today.",
    "Explain how rainbows form.",
    "Forget what I told you about my job.",
    "Read me the news headlines.",
    "My favourite colour is green.",
    "Wake me up at seven tomorrow.",
    "Let's talk about something else.",
    "Describe the city of Rome in two sentences.",
    "Okay, never mind.",
]
UNFINISHED = [u[0] for u in UTTERANCES if len(u) > 1] + [
    "I was going to ask you",
    "My favourite colour is",
    "Could you remind me to",
    "I think the best thing would be",
    "Well, let me think",
    "I want to go to the store and buy some",
    "The meeting is at",
    "Tell me something about",
    "What I really wanted to know is",
    "Yesterday I went to the park with my",
    "Can you explain why the",
    "I need to buy a present for",
    "Play the song that goes",
    # broken off after a word that can end a sentence: only the sound can hold these open
    "Remind me to call",
    "I'd like to order a pizza with extra",
    "The thing I keep forgetting is where I put",
    "Can you turn the volume",
    "Tell me how long it takes to drive",
    "My daughter wants to know why dogs",
    "Send a message to John saying",
    "How many people live in New",
    "I was wondering whether you could help me find",
    "Let me tell you about my weekend, we went",
    "The best movie I have ever seen",
    "If it rains tomorrow I will probably stay",
]
#: Silences (ms) after which the sound model is asked: where the daemon asks, and the latest
#: the latency issue allows.
ASKS_MS = (SMART_PAUSE_MS, 200)
#: Each phrase is heard with its speech this much later (ms) in the audio, once per shift.
SHIFTS_MS = (0, 5, 10, 15)


@dataclass
class Heard:
    text: str
    finished: bool
    words: str
    by_words: bool | None
    p: dict[int, float]
    #: The words' model's P(end of turn).
    q: float


def as_heard(speech48: Pcm16, silence_ms: int, shift_ms: int = 0) -> Pcm16:
    """The utterance as the daemon holds it after ``silence_ms`` of silence (16 kHz), the speech
    ``shift_ms`` later than the pre-roll's start."""
    pre = np.zeros(RATE * (PREROLL_MS + shift_ms) // 1000, np.int16)
    post = np.zeros(RATE * silence_ms // 1000, np.int16)
    return Resampler(RATE).process(np.concatenate([pre, speech48, post]))


async def hear(
    speech: Pcm16,
    text: str,
    finished: bool,
    shift_ms: int,
    stt: SpeechToText,
    judge: TurnJudge,
    ms: list[float],
    words_ms: list[float],
) -> Heard:
    words = await transcribe(stt, as_heard(speech, QUIET_MS, shift_ms), partial=False)
    p: dict[int, float] = {}
    for silence in ASKS_MS:
        audio = as_heard(speech, silence, shift_ms)
        t0 = time.perf_counter()
        p[silence] = judge.sound.probability(audio)
        ms.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    q = judge.words.probability(words)
    words_ms.append((time.perf_counter() - t0) * 1000)
    return Heard(text, finished, words, judge.by_words(words), p, q)


def _rules(judge: TurnJudge) -> list[tuple[str, Callable[[Heard], bool]]]:
    """What judges the hearings the rules on the words leave open: each row of the table."""
    sound = SMART_PAUSE_MS
    return [
        (f"the sound at {sound} ms, P >= 0.5 (the daemon's until this round)",
         lambda h: h.p[sound] >= 0.5),
        (f"the sound at {sound} ms, P >= 0.8", lambda h: h.p[sound] >= 0.8),
        ("the sound at 200 ms, P >= 0.5", lambda h: h.p[200] >= 0.5),
        (f"the words' model alone, P(end) >= 10^{math.log10(WORDS_END_P):.1f}",
         lambda h: h.q >= WORDS_END_P),
        (f"**the daemon's**: the words' model (10^{math.log10(WORDS_END_P):.1f}), or the sound at "
         f"{sound} ms >= {SURE_P} and the words' model >= 10^{math.log10(WORDS_MAYBE_P):.0f}",
         lambda h: judge.verdict(h.p[sound], h.q, h.words)),
        (f"of which at once, before the reply's first token: the words' model alone, P(end) >= "
         f"10^{math.log10(WORDS_SURE_P):.1f}",
         lambda h: judge.by_words_model(h.q) is True),
    ]  # fmt: skip


def ends(h: Heard, rule: Callable[[Heard], bool]) -> bool:
    """A verdict: the rules on the words when they decide, else ``rule``."""
    return h.by_words if h.by_words is not None else rule(h)


def _span(values: list[float], spec: str) -> str:
    lo, hi = f"{min(values):{spec}}", f"{max(values):{spec}}"
    return lo if lo == hi else f"{lo} to {hi}"


def _spread(hs: list[Heard]) -> str:
    """A phrase's hearings left open by the rules: the sound's P(complete) at each ask and the
    words' model's log10 P(end of turn), lowest to highest."""
    cells = [_span([h.p[s] for h in hs], ".2f") for s in ASKS_MS]
    cells.append(_span([math.log10(max(h.q, 1e-30)) for h in hs], ".1f"))
    return "/".join(cells) + f" ({len(hs)} of {len(SHIFTS_MS)}: {hs[0].words!r})"


def report(
    heard: list[Heard],
    judge: TurnJudge,
    decision_ms: list[float],
    words_ms: list[float],
    stt_model: str,
    started: str,
) -> str:
    fin = [h for h in heard if h.finished]
    unf = [h for h in heard if not h.finished]
    rows = [
        "| what judges what the rules on the words leave open | finished: ended at once "
        "| unfinished: cut |",
        "|---|---:|---:|",
    ]
    for name, rule in _rules(judge):
        rows.append(
            f"| {name} | {sum(ends(h, rule) for h in fin)} of {len(fin)} "
            f"| {sum(ends(h, rule) for h in unf)} of {len(unf)} |"
        )

    def left_open(hs: list[Heard]) -> str:
        by_text: dict[str, list[Heard]] = {}
        for h in hs:
            if h.by_words is None:
                by_text.setdefault(h.text, []).append(h)
        return ", ".join(_spread(x) for x in by_text.values()) or "none"

    phrases = len(SHIFTS_MS)
    lines = [
        "## End-of-turn judge",
        f"`bench/turn_judge.py` (started {started}, {machine()}; load average at the end "
        f"{load_text()}). {len(fin) // phrases} finished and {len(unf) // phrases} unfinished "
        f"phrases, espeak-ng at 175 words per minute, each heard {phrases} times as the daemon "
        "hears it, the speech shifted by "
        + ", ".join(f"{x}" for x in SHIFTS_MS)
        + " ms (the script's docstring); the counts are of hearings. "
        f"Words: the final pass (whisper {stt_model}) at {QUIET_MS} ms of silence. Sound: "
        f"smart-turn v3.2 at {ASKS_MS[0]} and {ASKS_MS[1]} ms of silence. The words' model: "
        "SmolLM2-135M-Instruct, P(end of turn) after the words of the final pass.",
        "\n".join(rows),
        f"- The rules on the words alone: {sum(h.by_words is True for h in fin)} of {len(fin)} "
        f"finished hearings complete (whole questions), "
        f"{sum(h.by_words is False for h in fin)} taken for unfinished, "
        f"{sum(h.by_words is None for h in fin)} left to the models; "
        f"{sum(h.by_words is False for h in unf)} of {len(unf)} unfinished hearings held open, "
        f"{sum(h.by_words is True for h in unf)} taken for complete, "
        f"{sum(h.by_words is None for h in unf)} left to the models.",
        "- The hearings left to the models, per phrase: the sound's P(complete) at "
        + " / ".join(f"{s} ms" for s in ASKS_MS)
        + " / the words' model's log10 P(end of turn) (lowest to highest; how many of the "
        "phrase's hearings; how one of them was heard): "
        + f"finished {left_open(fin)}; unfinished {left_open(unf)}.",
        f"- Time per decision: the sound (one thread) p50 "
        f"{statistics.median(decision_ms):.0f} ms, max {max(decision_ms):.0f} ms; the words' "
        f"model (up to {judge.words.passes.burst} threads, as in the daemon when nothing else "
        f"computes) p50 {statistics.median(words_ms):.0f} ms, max {max(words_ms):.0f} ms.",
    ]
    return "\n\n".join(lines)


async def measure() -> tuple[list[Heard], TurnJudge, list[float], list[float], str]:
    """Every phrase heard and judged, the judge, the sound model's and the words' model's times
    per decision (ms), and the whisper model that heard them."""
    settings = load_settings(end_of_turn="smart")
    judge = load_turn_judge(settings)
    assert judge is not None
    stt = load_stt(settings)
    heard: list[Heard] = []
    decision_ms: list[float] = []
    words_ms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-judge-") as tmp:
        for finished, phrases in ((True, FINISHED), (False, UNFINISHED)):
            for text in phrases:
                speech = speak(text, Path(tmp))
                for shift in SHIFTS_MS:
                    h = await hear(speech, text, finished, shift, stt, judge, decision_ms, words_ms)
                    heard.append(h)
                    print(
                        f"{'finished' if finished else 'unfinished'} +{shift} ms: words "
                        f"{h.by_words} ({h.words!r}), P "
                        f"{' / '.join(f'{v:.2f}' for v in h.p.values())}, words' model "
                        f"{h.q:.1e} [{text}]",
                        flush=True,
                    )
    return heard, judge, decision_ms, words_ms, whisper_source(settings).name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = ap.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"machine: {machine()}; load average at start: {load_text()}", flush=True)
    heard, judge, decision_ms, words_ms, stt_model = asyncio.run(measure())
    text = report(heard, judge, decision_ms, words_ms, stt_model, started)
    publish("End-of-turn judge", text, write=args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
