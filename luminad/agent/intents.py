"""Local intents first: hassil sentence templates that run the tools without the model.

:class:`IntentRouter` matches a whole utterance against the templates in
``luminad/agent/intents/en.yaml`` (Home Assistant's intent format, parsed by ``hassil``) in a
millisecond or two. A match names a tool of :mod:`luminad.agent.tools` and its arguments;
:meth:`IntentRouter.handle` runs that very function and answers the sentence to say. What no
template matches (or what a slot check below refuses) goes to the model.

The slot checks keep the templates honest: "call me back later" is not a name, "remember when
we met?" is a question, "forget it" is not a memory to delete.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from hassil import Intents, RecognizeResult, recognize_best
from pydantic_ai import RunContext
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RunUsage

from luminad.agent import tools
from luminad.agent.tool_calls import ToolContext
from luminad.agent.words import clauses

Tool = Callable[..., Awaitable[str]]

#: Words that start a question or a clause, never a fact or a name.
_QUESTION = frozenset(
    [
        "what",
        "when",
        "where",
        "who",
        "whom",
        "whose",
        "why",
        "how",
        "which",
        "if",
        "whether",
        "do",
        "does",
        "did",
        "is",
        "are",
        "was",
        "were",
        "can",
        "could",
        "would",
        "will",
        "should",
    ]
)
#: Words after "call me" / "my name is" that are not a name.
_NOT_NAME = frozenset(
    [
        "back",
        "later",
        "tomorrow",
        "tonight",
        "soon",
        "now",
        "when",
        "if",
        "after",
        "before",
        "at",
        "in",
        "on",
        "a",
        "an",
        "the",
        "not",
        "just",
        "never",
        "maybe",
        "sometime",
        "anytime",
        "again",
        "please",
        "that",
        "this",
        "it",
        "later",
        "sometime",
    ]
)
#: What "forget ..." may not mean: a conversational "never mind", or the whole user.
_NOT_A_MEMORY = frozenset({"it", "that", "this", "me", "everything", "all", "about it"})
#: "Can you remember that ...?" is a request, not a question.
_REQUEST = re.compile(r"\s*(?:please\s+)?(?:can|could|would|will) you\b", re.IGNORECASE)
_LEADING_ARTICLE = re.compile(r"^(?:the|my|a|an|our)\s+", re.IGNORECASE)
_NAME_WORD = re.compile(r"^[^\W\d_][\w'\-]*$")
#: A greeting before the request ("Hi, my name is Dana.", "Hello Nova, what time is it?"): the
#: request alone is matched as well.
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|good (?:morning|afternoon|evening))(?:\s+there)?"
    r"(?:\s+[A-Z][\w'-]*(?=,))?[\s,!.]*",
    re.IGNORECASE,
)


def name_of(text: str) -> str | None:
    """``text`` as a person's name (one to three name words, as said), or None: "back later"
    after "call me", or "not important" after "my name is", is no name."""
    words = _words(text)
    if not 1 <= len(words) <= 3 or words[0].lower() in _NOT_NAME:
        return None
    if not all(_NAME_WORD.match(w) for w in words):
        return None
    return " ".join(words)


def _intent_model() -> FunctionModel:
    """The ``model`` of a RunContext for tools run by the router (it never generates)."""

    def never(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart(content="")])

    return FunctionModel(never, model_name="local-intents")


@dataclass(frozen=True)
class IntentMatch:
    """A template matched: which intent, the tool it runs and the tool's arguments."""

    intent: str
    tool: Tool
    arguments: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tool_name(self) -> str:
        return self.tool.__name__


def _words(text: str) -> list[str]:
    return text.strip().strip(".!?,").split()


def _duration(slots: Mapping[str, Any]) -> int:
    total = 0.0
    for name, size in (("hours", 3600), ("minutes", 60), ("seconds", 1)):
        value = slots.get(name)
        if value is not None:
            total += float(value) * size
    return round(total)


def _label(slots: Mapping[str, Any]) -> str:
    return _LEADING_ARTICLE.sub("", str(slots.get("label", "")).strip().strip(".!?,"))


class IntentRouter:
    """Matches an utterance to a local intent and runs its tool (see the module docstring)."""

    TOOLS: Mapping[str, Tool] = {
        "Remember": tools.remember,
        "Forget": tools.forget,
        "Recall": tools.recall,
        "SetName": tools.set_preferred_name,
        "GetName": tools.preferred_name,
        "CurrentTime": tools.current_time,
        "SetTimer": tools.set_timer,
        "CancelTimer": tools.cancel_timer,
        "ListTimers": tools.list_timers,
        "Internet": tools.set_internet,
        "SwitchAvatar": tools.switch_avatar,
        "SwitchTo": tools.switch_avatar,
    }

    def __init__(self, templates: Intents | None = None) -> None:
        if templates is None:
            source = resources.files("luminad.agent").joinpath("intents/en.yaml")
            with source.open(encoding="utf-8") as stream:
                templates = Intents.from_yaml(stream)
        self.templates = templates
        self._model = _intent_model()
        for unit in ("seconds", "minutes", "hours"):  # hassil spells out each range once
            self.match(f"set a timer for three {unit}")

    def match(
        self, text: str, avatar_names: Callable[[], list[str]] | None = None
    ) -> IntentMatch | None:
        """The intent ``text`` states, or None (then the model answers). ``avatar_names`` is
        asked only when a "switch to NAME" template matched."""
        if not text.strip():
            return None
        found = recognize_best(text, self.templates, language="en")
        if found is None:
            request = _GREETING.sub("", text, count=1)
            if request == text or not request.strip():
                return None
            return self.match(request, avatar_names)
        return self._checked(found, text, avatar_names)

    def _checked(
        self,
        found: RecognizeResult,
        text: str,
        avatar_names: Callable[[], list[str]] | None,
    ) -> IntentMatch | None:
        intent = found.intent.name
        slots = {name: entity.value for name, entity in found.entities.items()}
        tool = self.TOOLS.get(intent)
        if tool is None:
            return None
        arguments: dict[str, Any]
        match intent:
            case "Remember":
                fact = str(slots["fact"]).strip()
                first = _words(fact)[:1]
                asked = not first or first[0].lower() in _QUESTION or text.rstrip().endswith("?")
                if asked and not _REQUEST.match(text):
                    return None
                arguments = {"fact": fact}
            case "Forget":
                what = str(slots["what"]).strip().strip(".!?,")
                if what.lower() in _NOT_A_MEMORY or not what:
                    return None
                arguments = {"what": what}
            case "Recall":
                arguments = {"query": str(slots["query"]).strip().strip(".!?,")}
            case "SetName":
                name = name_of(str(slots["name"]))
                if name is None:
                    return None
                arguments = {"name": name}
            case "SetTimer":
                arguments = {"seconds": _duration(slots), "label": _label(slots)}
            case "CancelTimer":
                arguments = {"label": _label(slots)}
            case "Internet":
                arguments = {"on": bool(slots["on"])}
            case "SwitchAvatar" | "SwitchTo":
                name = " ".join(_words(str(slots["name"])))
                if intent == "SwitchTo":
                    known = {n.casefold() for n in (avatar_names() if avatar_names else [])}
                    if name.casefold() not in known:
                        return None
                arguments = {"name": name}
            case _:
                arguments = {}
        return IntentMatch(intent=intent, tool=tool, arguments=arguments)

    async def run(self, found: IntentMatch, context: ToolContext) -> str:
        """Run the matched intent's tool; answers the sentence to say."""
        ctx = RunContext(
            deps=context,
            model=self._model,
            usage=RunUsage(),
            prompt=None,
            tool_name=found.tool_name,
        )
        return await found.tool(ctx, **found.arguments)

    def name_clause(self, text: str) -> IntentMatch | None:
        """The user's name stated in one clause of a longer message ("Hi, my name is Dana and I
        live in Lyon."), as the ``SetName`` intent of that clause."""
        parts = clauses(text)
        if len(parts) < 2:
            return None  # one clause: matched whole already
        for clause in parts:
            found = self.match(clause)
            if found is not None and found.intent == "SetName":
                return found
        return None

    async def name_in_passing(self, text: str, context: ToolContext) -> None:
        """Set the user's name when a clause of ``text`` states it; the model still answers the
        whole message (the name was lost when the rest went to the model alone)."""
        found = await asyncio.to_thread(self.name_clause, text)
        if found is not None:
            await self.run(found, context)

    async def handle(self, text: str, context: ToolContext) -> str | None:
        """The sentence to say when ``text`` is a local intent (its tool has run), else None."""

        def avatar_names() -> list[str]:
            return [a.name for a in context.app.queries.list_avatars()]

        found = await asyncio.to_thread(self.match, text, avatar_names)
        if found is None:
            return None
        return await self.run(found, context)


@cache
def default_router() -> IntentRouter:
    """The router of the bundled templates, made once per process (~0.2 s: hassil spells out
    the numbers of each range)."""
    return IntentRouter()
