"""The end-of-turn judge on real speech (espeak-ng): the smart-turn model hears a finished
question as complete and an obviously unfinished sentence as not; the rules on the words catch
what the sound alone misses; the words' model (SmolLM2) reads a finished statement as a whole
turn and a sentence broken off on a word that may end one as not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from luminad.providers.smart_turn import (
    SURE_P,
    WORDS_END_P,
    WORDS_MAYBE_P,
    WORDS_SURE_P,
    SmartTurn,
    TurnJudge,
    log_mel,
    unfinished,
)
from luminad.providers.text_turn import TextTurn, normalised
from luminad.providers.transcript import collapse_repeats
from tests.support.speech import speak_pcm16

TRAILING_SILENCE_S = 0.2  # the judge is asked after a short pause
WPM = 175  # espeak-ng's own default rate (slower espeak speech sounds unfinished to the model)


@pytest.fixture(scope="module")
def model() -> SmartTurn:
    return SmartTurn()


@pytest.fixture(scope="module")
def words() -> TextTurn:
    return TextTurn()


@pytest.fixture(scope="module")
def judge(model: SmartTurn, words: TextTurn) -> TurnJudge:
    return TurnJudge(model, words)


def _utterance(text: str, tmp: Path) -> np.ndarray:
    pcm = speak_pcm16(text, tmp, wpm=WPM)
    loud = np.flatnonzero(np.abs(pcm) > 300)
    speech = pcm[loud[0] : loud[-1] + 1]
    return np.concatenate([speech, np.zeros(int(16000 * TRAILING_SILENCE_S), np.int16)])


def test_complete_question_scores_above_an_unfinished_sentence(
    model: SmartTurn, tmp_path: Path
) -> None:
    complete = [
        model.probability(_utterance(t, tmp_path))
        for t in ("What time is it?", "Set a timer for ten minutes.")
    ]
    cut = [
        model.probability(_utterance(t, tmp_path))
        for t in ("I need a name for my new cat, and she is",)
    ]
    print(f"\np(complete): finished {complete}, unfinished {cut}")
    assert min(complete) > 0.5
    assert max(cut) < 0.5
    assert min(complete) > max(cut) + 0.3


def test_words_hold_a_turn_the_models_find_complete(judge: TurnJudge) -> None:
    assert judge.verdict(0.83, 0.1, "I would like to book a table for") is False
    assert judge.verdict(0.95, 0.1, "Can you tell me how to?") is False
    assert judge.verdict(0.1, 1e-9, "Why is the sky blue?") is True  # a whole question
    assert judge.by_words("Thank you, that is all.") is None  # for the models to judge
    assert unfinished("Set a timer for") and unfinished("and the")
    assert not unfinished("Set a timer for ten minutes.") and not unfinished("")
    # a sentence stopping on a comma, colon or dash goes on, whatever the models say
    assert judge.verdict(0.92, 0.1, "And one more thing:") is False
    assert judge.verdict(0.92, 0.1, "And one more thing.") is False  # a lead-in, however written
    assert (
        judge.by_words("And then?") is True and judge.by_words("So that is all for today.") is None
    )
    assert unfinished("So, ") and unfinished("I was thinking -") and not unfinished("All set!")


def test_a_statement_is_the_models_call(judge: TurnJudge) -> None:
    """Where the rules do not decide, the words' model ends a turn it reads as whole, whatever
    the sound; the sound sure of an end ends one the words' model does not read as broken off;
    anything else waits for the long hangover."""
    text = "Thank you, that is all."
    assert judge.verdict(0.1, WORDS_END_P, text) is True
    assert judge.verdict(SURE_P, WORDS_MAYBE_P, text) is True  # "Please stop."
    assert judge.verdict(0.89, WORDS_END_P / 2, text) is False
    assert judge.verdict(0.99, WORDS_MAYBE_P / 2, text) is False  # "... with extra" misheard
    # the words' model alone decides only where the sound could not change the verdict
    assert judge.by_words_model(WORDS_SURE_P) is True and judge.verdict(0.0, WORDS_SURE_P, text)
    assert judge.by_words_model(WORDS_MAYBE_P / 2) is False
    assert judge.by_words_model(WORDS_END_P) is None and judge.by_words_model(WORDS_MAYBE_P) is None


def test_the_words_model_reads_whole_statements_and_broken_off_ones(words: TextTurn) -> None:
    """Statements the recogniser wrote with a full stop, finished or broken off on a word that
    may end a sentence (so the rules leave all of them open): the sound scored some of the
    finished ones low and some of the broken-off ones high (``bench/turn_judge.py``)."""
    whole = [
        "Thank you, that is all for now.",
        "Give me a tip for sleeping better.",
        "Tell me a fun fact about octopuses.",
        "Turn off the lights in the kitchen.",
    ]
    broken_off = [
        "I was wondering whether you could help me find.",
        "The thing I keep forgetting is where I put.",
        "If it rains tomorrow I will probably stay.",
        "Reminds me what we talk to out.",  # "Remind me what we talked about" misheard
    ]
    p_whole = [words.probability(t) for t in whole]
    p_broken = [words.probability(t) for t in broken_off]
    print(f"\nP(end of turn): whole {p_whole}, broken off {p_broken}")
    assert min(p_whole) >= WORDS_END_P
    assert max(p_broken) < WORDS_MAYBE_P
    assert normalised("Hi, I'm Sam.") == "hi i'm sam" and words.probability(" . ") == 0.0


def test_whole_sentences_that_end_like_unfinished_ones_are_complete(judge: TurnJudge) -> None:
    """Complete turns the recogniser wrote this way, which waited the long hangover when the
    sound scored them low (p 0.01-0.81 on espeak-ng speech)."""
    assert judge.by_words("What was the first thing I asked you?") is True
    assert judge.by_words("What's the square root of 144?") is True  # a number is a word
    assert not unfinished("Remember that my sister's birthday is on the 5th of May.")
    assert not unfinished("Call me Sam from now on.")
    # a question ending on its subject: "How old am I?" waited the long hangover (by voice)
    assert judge.by_words("How old am I?") is True
    assert judge.by_words("Where are we?") is True and judge.by_words("Yesterday we") is False
    # ... and what stays open: the modal, a subject after an auxiliary alone
    assert judge.by_words("I may") is False
    assert judge.by_words("Could you?") is False and judge.by_words("So, can you?") is False
    assert judge.by_words("How are you?") is True and judge.by_words("And you?") is True
    # a hyphenated word is one word; a decoder loop inside one does not read as a broken-off
    # sentence (tiny.en on espeak-ng's "... learning the piano as an adult?")
    assert not unfinished("I had a run-in with my neighbour, a real run-in.")
    looped = collapse_repeats("What is a good way to start learning the bieno-a-a-a-a-a-a-a-a-")
    assert judge.by_words(looped) is None


def test_features_are_whisper_shaped_and_bounded() -> None:
    rng = np.random.default_rng(0)
    audio = np.zeros(8 * 16000, np.float32)
    audio[-16000:] = rng.normal(0, 0.1, 16000).astype(np.float32)
    mel = log_mel(audio)
    assert mel.shape == (80, 800) and mel.dtype == np.float32
    # log10 power clipped to 8 decades below the peak, then (x + 4) / 4
    assert mel.max() - mel.min() <= 2.0 + 1e-6
    assert np.ptp(mel[:, -50:]) > np.ptp(mel[:, :50])  # the sound is where the noise was
