"""The word error rate the deep check, model verification and the speech tests score by."""

from luminad.providers.wer import normalize_words, wer


def test_punctuation_case_and_digits_do_not_count() -> None:
    assert wer("Set a timer for 5 minutes.", "set a timer for five minutes") == 0.0


def test_a_contraction_is_the_words_it_stands_for() -> None:
    ref = "The weather is lovely today, so let us go for a walk in the park."
    assert wer(ref, "The weather is lovely today. So let's go for a walk in the park.") == 0.0
    assert normalize_words("I'm sure they won't, we can't, you're right") == (
        ["i", "am", "sure", "they", "will", "not", "we", "can", "not", "you", "are", "right"]
    )


def test_a_wrong_word_counts() -> None:
    ref = "The weather is lovely today, so let us go for a walk in the park."
    assert wer(ref, "The water is lovely today, so let us go for walk in the park.") == 2 / 15
