"""The prompt of every reply: one persona, one style rule, and what the assistant knows.

The system prompt (persona + style, and who the user is: their name and preferences, which
change only when the user changes them) stays the same for a whole session, so llama.cpp
evaluates it, and the tool schemas the chat template puts after it, once (the session primes
it). What changes per turn (recalled memories, web results) goes into a short note in front of
the user's words by default (``context="turn"``), or into the system prompt
(``context="system"``: every change re-evaluates the tools section and the history).
``bench/dialogue.py`` scores both. Memories are said to the user ("You have a dog called
Rex.", :func:`~luminad.agent.words.told_to_them`): the small default model recites what it is
given. A question the user asks about themselves ("How old am I?") with no memory recalled
carries :data:`TO_THEM` in the note instead, in either layout. The name was in the note
before: the small default model then began replies to unrelated questions with it ("And what
about Italy?" -> "The user's name is Dana. And what about Italy?"). Replies are spoken, so the
style rule asks for short plain sentences.

Kept short on purpose: small models repeat themselves under a long persona prompt (issue 10).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from luminad.agent.words import about_themselves, told_to_them
from luminad.providers.base import SearchResult

DEFAULT_NAME = "Lumina"
DEFAULT_PERSONA = "You are {name}, a friendly voice assistant."
SPOKEN_STYLE = (
    "Answer in one or two short spoken sentences, in plain English, with no lists or markdown."
)


#: The note on a question the user asks about themselves, in their first person ("How old am
#: I?"), when no memory is recalled for it: the small default model otherwise answers half of
#: them as the user from the conversation ("Where do I live?" -> "I live in Lisbon."). Only on
#: such questions: a style rule on whom every reply speaks to lost a follow-up ("And what about
#: Italy?" -> "Italy is the capital of Italy."). Worded without "ask about": "They ask about
#: themselves" turned "Which country did I ask about first?" into "You asked about yourself."
#: Not beside memories: it is then obeyed to the letter ("What is my dog called?" -> "You.",
#: and with other wordings "You are Rex."), where the memories said to the user are enough.
TO_THEM = 'Their question is about their own life: answer them with "you".'


def _clean(text: str, limit: int = 1200) -> str:
    return " ".join(text.split())[:limit]


@dataclass(frozen=True)
class PromptTemplate:
    """How the prompt is laid out: persona and style wording, and where the known facts go."""

    persona: str = DEFAULT_PERSONA
    style: str = SPOKEN_STYLE
    context: Literal["turn", "system"] = "turn"

    @property
    def version(self) -> str:
        """Changes whenever this template or this module's wording changes (recorded with each
        reply, so a replay can tell that the prompt is no longer the one used then)."""
        digest = hashlib.sha256(Path(__file__).read_bytes())
        digest.update(repr(self).encode())
        return digest.hexdigest()[:12]

    def system(
        self,
        *,
        name: str = DEFAULT_NAME,
        persona: str = "",
        style: str = "",
        user: str = "",
        facts: str = "",
    ) -> str:
        """The system prompt: the avatar's persona (or ours), its style rule (or ours), who the
        user is (:func:`about_user`), and this turn's facts when they go into the system
        prompt."""
        name = _clean(name, 60) or DEFAULT_NAME
        lines = [_clean(persona) if persona.strip() else self.persona.format(name=name)]
        if persona.strip() and name.lower() not in persona.lower():
            lines.append(f"Your name is {name}.")
        lines.append(_clean(style, 400) if style.strip() else self.style)  # the avatar's wins
        if user:
            lines.append(user)
        if facts and self.context == "system":
            lines.append(facts)
        return "\n".join(lines)

    def user_turn(self, text: str, facts: str) -> str:
        """The user's words, with a note in front of them: the facts when they go into the turn,
        or :data:`TO_THEM` when there are none and the words are a question about the user."""
        if facts:
            return f"({facts})\n{text}" if self.context == "turn" else text
        return f"({TO_THEM})\n{text}" if about_themselves(text) else text


def about_user(
    *, preferred_name: str | None = None, preferences: Mapping[str, str] | None = None
) -> str:
    """Who the user is, for the system prompt: the name they chose and their preferences
    (empty: nothing known)."""
    out: list[str] = []
    if preferred_name and preferred_name.strip():
        out.append(f"The user's name is {_clean(preferred_name, 60)}.")
    prefs = [f"{_clean(k, 40)}: {_clean(v, 120)}" for k, v in (preferences or {}).items() if v]
    if prefs:
        out.append("User preferences: " + "; ".join(prefs) + ".")
    return " ".join(out)


def known_facts(*, memories: Sequence[str] = (), web_results: Sequence[SearchResult] = ()) -> str:
    """What the assistant knows for this turn, in a few plain sentences (empty: nothing)."""
    out: list[str] = []
    if memories:
        facts = " ".join(told_to_them(_clean(m, 200)).rstrip(".") + "." for m in memories[:6])
        out.append(f"What you know about them: {facts}")
    if web_results:
        found = " ".join(
            f"[{i}] {_clean(r.title, 100)}: {_clean(r.snippet, 300)}"
            for i, r in enumerate(web_results[:5], 1)
        )
        out.append(f"Web search results: {found}")
    return " ".join(out)
