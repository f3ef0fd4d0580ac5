"""Persona templates: the system prompt of every reply.

One template, filled from the avatar (name, persona, style), the user's preferred name and
preferences, recalled memories and (in internet mode) web results. Replies are spoken aloud,
so the rules ask for short, plain, spoken-style sentences without markdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from luminad.providers.base import SearchResult

DEFAULT_NAME = "Lumina"
# Kept short on purpose: the default embedded model (135M parameters) follows a short system
# prompt far better than a long one.
DEFAULT_PERSONA = "You are {name}, a friendly personal assistant."
SPOKEN_STYLE = (
    "Answer in one or two short spoken sentences: plain words, no lists, no markdown, no emojis."
)
SAFETY = "If you do not know, say so. Politely refuse harmful requests."


def _clean(text: str, limit: int = 1200) -> str:
    return " ".join(text.split())[:limit]


def system_prompt(
    *,
    name: str = DEFAULT_NAME,
    persona: str = "",
    style: str = "",
    preferred_name: str | None = None,
    preferences: Mapping[str, str] | None = None,
    memories: Sequence[str] = (),
    web_results: Sequence[SearchResult] = (),
) -> str:
    """The system prompt for one reply."""
    name = _clean(name, 60) or DEFAULT_NAME
    lines = [_clean(persona) if persona.strip() else DEFAULT_PERSONA.format(name=name)]
    if persona.strip() and name.lower() not in persona.lower():
        lines.append(f"Your name is {name}.")
    lines.append(SPOKEN_STYLE)
    if style.strip():
        lines.append(f"Style: {_clean(style, 400)}")
    if preferred_name and preferred_name.strip():
        lines.append(f"The user likes to be called {_clean(preferred_name, 60)}.")
    prefs = [f"{_clean(k, 40)}: {_clean(v, 120)}" for k, v in (preferences or {}).items() if v]
    if prefs:
        lines.append("User preferences: " + "; ".join(prefs) + ".")
    if memories:
        facts = " ".join(f"- {_clean(m, 200)}" for m in memories[:8])
        lines.append(f"Things the user told you before: {facts}")
    if web_results:
        found = " ".join(
            f"[{i}] {_clean(r.title, 100)}: {_clean(r.snippet, 300)}"
            for i, r in enumerate(web_results[:5], 1)
        )
        lines.append(f"Web search results (use them if relevant): {found}")
    lines.append(SAFETY)
    return "\n".join(lines)
