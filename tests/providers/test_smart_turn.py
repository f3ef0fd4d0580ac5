"""The end-of-turn judge on real speech (espeak-ng): the smart-turn model hears a finished
question as complete and an obviously unfinished sentence as not; the words rule catches what
the sound alone misses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from luminad.providers.smart_turn import SmartTurn, TurnJudge, log_mel, unfinished
from luminad.providers.transcript import collapse_repeats
from tests.support.speech import speak_pcm16

TRAILING_SILENCE_S = 0.2  # the judge is asked after a short pause
WPM = 175  # espeak-ng's own default rate (slower espeak speech sounds unfinished to the model)


@pytest.fixture(scope="module")
def model() -> SmartTurn:
    return SmartTurn()


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


def test_words_hold_a_turn_the_sound_finds_complete(model: SmartTurn) -> None:
    judge = TurnJudge(model)
    assert judge.verdict(0.83, "I would like to book a table for") is False
    assert judge.verdict(0.95, "Can you tell me how to?") is False
    assert judge.verdict(0.83, "I would like to book a table for two.") is True
    assert judge.verdict(0.3, "Thank you, that is all.") is False
    assert judge.verdict(0.1, "Why is the sky blue?") is True  # a whole question
    assert judge.by_words("Thank you, that is all.") is None  # for the sound to judge
    # a statement the sound finds more likely finished than not ends now, not after the hangover
    assert judge.verdict(0.62, "Tell me a fun fact about octopuses.") is True
    assert unfinished("Set a timer for") and unfinished("and the")
    assert not unfinished("Set a timer for ten minutes.") and not unfinished("")
    # a sentence stopping on a comma, colon or dash goes on, whatever the sound says
    assert judge.verdict(0.92, "And one more thing:") is False
    assert judge.verdict(0.92, "And one more thing.") is False  # a lead-in, however written
    assert judge.verdict(0.1, "And then?") is True and judge.verdict(
        0.9, "So that is all for today."
    )
    assert unfinished("So, ") and unfinished("I was thinking -") and not unfinished("All set!")


def test_whole_sentences_that_end_like_unfinished_ones_are_complete(model: SmartTurn) -> None:
    """Complete turns the recogniser wrote this way, which waited the long hangover when the
    sound scored them low (p 0.01-0.81 on espeak-ng speech)."""
    judge = TurnJudge(model)
    assert judge.verdict(0.05, "What was the first thing I asked you?") is True
    assert judge.verdict(0.01, "What's the square root of 144?") is True  # a number is a word
    assert judge.verdict(0.9, "Remember that my sister's birthday is on the 5th of May.") is True
    assert judge.verdict(0.9, "Call me Sam from now on.") is True
    # a question ending on its subject: "How old am I?" waited the long hangover (by voice)
    assert judge.verdict(0.05, "How old am I?") is True
    assert judge.verdict(0.05, "Where are we?") is True and judge.by_words("Yesterday we") is False
    # ... and what stays open: the modal, a subject after an auxiliary alone
    assert judge.verdict(0.9, "I may") is False
    assert judge.verdict(0.9, "Could you?") is False and judge.verdict(0.9, "So, can you?") is False
    assert judge.verdict(0.1, "How are you?") is True and judge.verdict(0.1, "And you?") is True
    # a hyphenated word is one word; a decoder loop inside one does not read as a broken-off
    # sentence (tiny.en on espeak-ng's "... learning the piano as an adult?")
    assert judge.verdict(0.9, "I had a run-in with my neighbour, a real run-in.") is True
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
