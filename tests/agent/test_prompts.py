from __future__ import annotations

from luminad.agent.prompts import system_prompt
from luminad.providers.base import SearchResult


def test_default_persona_is_lumina() -> None:
    p = system_prompt()
    assert "You are Lumina" in p
    assert "spoken" in p and "short" in p


def test_custom_avatar_name_style_user_and_memories() -> None:
    p = system_prompt(
        name="Captain",
        persona="You are a cheerful pirate who loves the sea.",
        style="Say 'arr' now and then.",
        preferred_name="Sam",
        preferences={"units": "metric"},
        memories=["The user's sister is called Ana."],
        web_results=[SearchResult("Paris", "https://example.org", "Paris is the capital.")],
    )
    assert "cheerful pirate" in p and "Your name is Captain." in p
    assert "Say 'arr'" in p
    assert "called Sam" in p and "units: metric" in p
    assert "sister is called Ana" in p
    assert "Paris is the capital." in p
    assert "harmful" in p  # safety rules always present
