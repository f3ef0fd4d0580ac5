"""The words of a sentence that carry its meaning, to tell whether two sentences speak of the
same things (a memory and what the user asks about it, a fact and what the user said), and
whether a sentence is in the first person, and a reply that restates the user's question in
their first person turned to them."""

from __future__ import annotations

import re
from itertools import pairwise

_WORD = re.compile(r"[a-z0-9][a-z0-9'-]*")
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|me|my|mine|myself)\b", re.IGNORECASE)
#: A reply's opening in the first person and the word after it ("My cat", "I'm going").
_OPENING = re.compile(r"\s*(my|i'm|i am|i was|i)\s+([a-z']+)", re.IGNORECASE)
#: The same opening said to the user.
_TO_THEM = {"my": "your", "i'm": "you're", "i am": "you are", "i was": "you were", "i": "you"}
#: Words too common to tell two sentences apart ("user": facts say "The user ...").
_COMMON = frozenset(
    {
     "the", "and", "but", "for", "nor", "yet", "with", "from", "into", "onto", "about", "that",
     "this", "these", "those", "what", "which", "who", "whom", "whose", "when", "where", "why",
     "how", "was", "were", "are", "been", "being", "have", "has", "had", "does", "did", "can",
     "could", "would", "should", "will", "shall", "may", "might", "must", "not", "you", "your",
     "yours", "our", "ours", "their", "theirs", "his", "her", "hers", "its", "they", "them",
     "she", "him", "i'm", "i've", "i'd", "i'll", "user",
    }
)  # fmt: skip


def _stem(word: str) -> str:
    word = word.removesuffix("'s")
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def content_words(text: str) -> set[str]:
    """The words of ``text`` of three letters or more that are not among the most common,
    lower-cased, without a possessive or plural ``s`` ("sister's", "sisters": "sister")."""
    stems = {_stem(w) for w in _WORD.findall(text.lower()) if len(w) >= 3}
    return stems - _COMMON


def first_person(text: str) -> bool:
    """Whether ``text`` speaks in the first person ("I", "me", "my", ...)."""
    return _FIRST_PERSON.search(text) is not None


def about_themselves(text: str) -> bool:
    """Whether ``text`` is a question the user asks about themselves ("Where do I live?")."""
    return text.rstrip().endswith("?") and first_person(text)


def to_them(question: str, opening: str) -> str:
    """``opening`` (the first words of a reply to ``question``) said to the user when it
    restates the question's own words in the user's first person: "What is my cat called?"
    -> "My cat is called Turing." -> "Your cat is called Turing."; "What am I allergic to?"
    -> "I am allergic to peanuts." -> "You are allergic ...". Only the word the user put after
    their "my" or "I" counts ("I'm not sure." stays), and not a first clause that speaks to
    "you" ("I asked you about Apollo 11.": "You asked you ..." would be worse)."""
    m = _OPENING.match(opening)
    if m is None:
        return opening
    said, word = " ".join(m.group(1).lower().split()), m.group(2).lower()
    asked = _WORD.findall(question.lower())
    theirs = {after for mine, after in pairwise(asked) if mine in ("my", "i")}
    restated = (
        word in theirs
        if said == "my"
        else any(word.startswith(w) for w in theirs)  # "did I ask" -> "I asked"
    )
    if not restated:
        return opening
    clause = re.split(r"[,.;:!?]", opening[m.end() :], maxsplit=1)[0]
    if re.search(r"\byou\b", clause, re.IGNORECASE):
        return opening
    told = _TO_THEM[said]
    if m.group(1)[0].isupper():
        told = told[0].upper() + told[1:]
    return opening[: m.start(1)] + told + opening[m.end(1) :]
