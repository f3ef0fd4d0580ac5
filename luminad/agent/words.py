"""The words of a sentence that carry its meaning, to tell whether two sentences speak of the
same things (a memory and what the user asks about it, a fact and what the user said), and
whether a sentence is in the first person, a reply that restates the user's question in their
first person turned to them, and a memory said to the user."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

_WORD = re.compile(r"[a-z0-9][a-z0-9'-]*")
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|me|my|mine|myself)\b", re.IGNORECASE)
#: A reply's opening in the first person and the word after it ("My cat", "I'm going").
_OPENING = re.compile(r"\s*(my|i'm|i am|i was|i)\s+([a-z0-9']+)", re.IGNORECASE)
#: Words of a reply held back to turn its opening to the user ("I am allergic" is the longest
#: opening turned), and compared with a memory's opening.
OPENING_WORDS = 3
#: Where the clauses of a message or a memory join ("Hi, my name is Leo and I am nine.").
_CLAUSE = re.compile(r"\s*[,;.!?]+\s*|\s+and\s+", re.IGNORECASE)
_NUMBER = re.compile(
    r"\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
    r"|(?:thir|four|fif|six|seven|eigh|nine)teen|(?:twen|thir|for|fif|six|seven|eigh|nine)ty"
)
#: Who a memory is about, as the memory says it ("The user's", "The user lives", "I am", "my"),
#: with the verb after "the user" when it may need to agree with "you" ("lives" -> "live").
_MEMORY_SUBJECT = re.compile(
    r"\b(the user's|the user(?:\s+([a-z]+))?|i'm|i am|i was|i've|i|my|me|mine|myself|their"
    r"|themselves)\b",
    re.IGNORECASE,
)
_SAID_TO_THEM = {
    "the user's": "your", "i'm": "you're", "i am": "you are", "i was": "you were",
    "i've": "you've", "i": "you", "my": "your", "me": "you", "mine": "yours",
    "myself": "yourself", "their": "your", "themselves": "yourself",
}  # fmt: skip
#: "The user <verb>" said to them: the irregular ones; a verb in "-s" loses it.
_VERB_TO_THEM = {"is": "are", "was": "were", "has": "have", "does": "do"}
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


def clauses(text: str) -> list[str]:
    """The clauses of ``text``, split at punctuation and "and" ("Hi, my name is Dana and I live
    in Lyon." -> "Hi", "my name is Dana", "I live in Lyon")."""
    return [c for c in _CLAUSE.split(text) if c.strip()]


def to_them(question: str, opening: str, memories: Sequence[str] = ()) -> str:
    """``opening`` (the first words of a reply to ``question``) said to the user when it
    restates the question's own words in the user's first person: "What is my cat called?"
    -> "My cat is called Turing." -> "Your cat is called Turing."; "What am I allergic to?"
    -> "I am allergic to peanuts." -> "You are allergic ...". Only the word the user put after
    their "my" or "I" counts ("I'm not sure." stays), or a clause of ``memories`` (recalled
    for the question, or what the user said before) that opens the same way said to them
    (:func:`told_to_them`: "How old am I?" after "My name is Leo and I am nine years old." ->
    "I am 9 years old." -> "You are 9 ..."); and not a first clause that speaks to "you" ("I
    asked you about Apollo 11.": "You asked you ..." would be worse)."""
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
        turned = told_to_them(opening)
        known = (told_to_them(c) for memory in memories for c in clauses(memory))
        if not any(_same_opening(turned, clause) for clause in known):
            return opening
    clause = re.split(r"[,.;:!?]", opening[m.end() :], maxsplit=1)[0]
    if re.search(r"\byou\b", clause, re.IGNORECASE):
        return opening
    told = _SAID_TO_THEM[said]
    if m.group(1)[0].isupper():
        told = told[0].upper() + told[1:]
    return opening[: m.start(1)] + told + opening[m.end(1) :]


def _same_opening(reply: str, memory: str) -> bool:
    """Whether ``reply`` opens with the first words of ``memory`` (a number for a number:
    "You are 9" opens "You are nine years old.")."""
    said, known = (_WORD.findall(t.lower().replace("you're", "you are")) for t in (reply, memory))
    said = said[:OPENING_WORDS]
    return len(known) >= len(said) and all(
        a == b or bool(_NUMBER.fullmatch(a) and _NUMBER.fullmatch(b))
        for a, b in zip(said, known, strict=False)
    )


def _verb_to_them(verb: str) -> str:
    low = verb.lower()
    if low in _VERB_TO_THEM:
        return _VERB_TO_THEM[low]
    if low.endswith("ies") and len(low) > 4:
        return verb[:-3] + "y"  # studies -> study
    if low.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        return verb[:-2]  # watches -> watch, goes -> go
    if low.endswith("s") and not low.endswith(("ss", "us")) and len(low) > 2:
        return verb[:-1]  # lives -> live
    return verb  # can, will, visited, always ...


def told_to_them(memory: str) -> str:
    """A memory (a fact "The user ..." or the user's own words "My cat ...") said to the user:
    "The user has a dog called Rex." -> "You have a dog called Rex."; "My cat is called
    Turing." -> "Your cat is called Turing."; "Ana is the user's sister." -> "Ana is your
    sister." A small model recites the facts it is given; said to the user, a recitation
    answers them ("What is my dog called?" -> "You have a dog called Rex.") instead of speaking
    of "the user" or as them."""

    def say(m: re.Match[str]) -> str:
        who = m.group(1).lower()
        if who.startswith("the user") and who != "the user's":
            verb = m.group(2)
            return "you" + (f" {_verb_to_them(verb)}" if verb else "")
        return _SAID_TO_THEM[" ".join(who.split())]

    said = _MEMORY_SUBJECT.sub(say, memory.strip())
    return said[:1].upper() + said[1:]
