"""Local intents: routing accuracy on a labelled set, and the time they add to a turn.

Each utterance is labelled with the intent it states (a command said several ways) or with
nothing (a question or remark that must NOT run a tool, including the false positives of the
old regex memory policy). The local path is :class:`luminad.agent.intents.IntentRouter`
(hassil templates); a miss goes to the model, a false trigger runs a tool nobody asked for.

The latency is what the router adds to a turn that uses no tool: ``IntentRouter.handle`` on the
negative utterances, as the Responder awaits it (matching in a worker thread), against a real
store in a temporary directory.

``--model`` also routes the set through the model path alone (no local intents): the default
embedded model, offered the tool registry, answers each utterance; a command counts when the
model called its tool first, a negative when it called none (intents that have no model tool,
asking the name and internet on/off, are left out of that path).

    .venv/bin/python bench/intents.py [--reps 20] [--model]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from luminad import protocol  # noqa: E402
from luminad.agent.intents import IntentRouter  # noqa: E402
from luminad.agent.tool_calls import ToolContext  # noqa: E402
from luminad.errors import LuminaError  # noqa: E402

#: (utterance, the intent it states or None, the arguments the tool must get, if checked)
LABELLED: list[tuple[str, str | None, dict[str, Any] | None]] = [
    # remember
    (
        "Remember that my sister's birthday is on May third.",
        "Remember",
        {"fact": "my sister's birthday is on May third"},
    ),
    ("Please remember that I park on level three.", "Remember", None),
    ("remember my locker code is at the gym office", "Remember", None),
    ("Can you remember that the plumber comes on Friday?", "Remember", None),
    ("Make a note that I'm allergic to peanuts.", "Remember", None),
    ("Keep in mind that I don't eat meat.", "Remember", None),
    ("I want you to remember that my dog is called Rex.", "Remember", None),
    # forget
    ("Forget my sister's birthday.", "Forget", {"what": "my sister's birthday"}),
    ("Please forget that I park on level three.", "Forget", None),
    ("Forget about the plumber.", "Forget", None),
    ("Delete the memory about my dog.", "Forget", None),
    ("Could you forget that I'm allergic to peanuts?", "Forget", None),
    # recall
    ("What do you remember about my sister?", "Recall", {"query": "my sister"}),
    ("What did I tell you about the plumber?", "Recall", None),
    # name
    ("My name is Sam.", "SetName", {"name": "Sam"}),
    ("my name's Ada Lovelace", "SetName", {"name": "Ada Lovelace"}),
    ("Call me Sam.", "SetName", {"name": "Sam"}),
    ("You can call me Captain.", "SetName", None),
    ("I go by Alex.", "SetName", None),
    ("Hi, my name is Dana.", "SetName", {"name": "Dana"}),
    ("Hello Lumina, call me Sam.", "SetName", {"name": "Sam"}),
    ("What is my name?", "GetName", None),
    ("What's my name?", "GetName", None),
    ("Do you know my name?", "GetName", None),
    # time
    ("What time is it?", "CurrentTime", None),
    ("what's the time", "CurrentTime", None),
    ("Hey Lumina, what time is it right now?", "CurrentTime", None),
    ("Good morning! What time is it?", "CurrentTime", None),
    ("Can you tell me the time?", "CurrentTime", None),
    ("Do you know what time it is?", "CurrentTime", None),
    ("What day is it today?", "CurrentTime", None),
    # set timers
    ("Set a timer for three seconds.", "SetTimer", {"seconds": 3, "label": ""}),
    ("Set a timer for 10 minutes.", "SetTimer", {"seconds": 600, "label": ""}),
    ("set a 5 minute timer", "SetTimer", {"seconds": 300, "label": ""}),
    ("Start a timer for one minute and thirty seconds.", "SetTimer", {"seconds": 90, "label": ""}),
    ("Set a timer for an hour.", "SetTimer", {"seconds": 3600, "label": ""}),
    ("Set a pasta timer for 8 minutes.", "SetTimer", {"seconds": 480, "label": "pasta"}),
    ("Set a timer for 4 minutes for the eggs.", "SetTimer", {"seconds": 240, "label": "eggs"}),
    ("Timer for twenty seconds.", "SetTimer", {"seconds": 20, "label": ""}),
    ("Could you set a timer for two hours?", "SetTimer", {"seconds": 7200, "label": ""}),
    (
        "Remind me in 15 minutes to check the oven.",
        "SetTimer",
        {"seconds": 900, "label": "check the oven"},
    ),
    ("Set a timer for half an hour.", "SetTimer", {"seconds": 1800, "label": ""}),
    ("Set a timer for 0 seconds.", "SetTimer", {"seconds": 0, "label": ""}),
    # cancel / list timers
    ("Cancel the timer.", "CancelTimer", {"label": ""}),
    ("Stop the pasta timer.", "CancelTimer", {"label": "pasta"}),
    ("Please cancel my timer.", "CancelTimer", None),
    ("Turn off the timer.", "CancelTimer", None),
    ("How much time is left on the timer?", "ListTimers", None),
    ("What timers do I have?", "ListTimers", None),
    ("Do I have any timers running?", "ListTimers", None),
    ("List my timers.", "ListTimers", None),
    # internet
    ("Turn on internet mode.", "Internet", {"on": True}),
    ("Go online.", "Internet", {"on": True}),
    ("Switch off the internet.", "Internet", {"on": False}),
    ("Disable internet access.", "Internet", {"on": False}),
    ("Internet off.", "Internet", {"on": False}),
    # avatars
    ("Switch avatar to Bob.", "SwitchAvatar", {"name": "Bob"}),
    ("Change the avatar to Nova.", "SwitchAvatar", {"name": "Nova"}),
    ("Switch to Lumina.", "SwitchTo", {"name": "Lumina"}),
    ("Let me talk to Lumina.", "SwitchTo", {"name": "Lumina"}),
    # ---------------------------------------------------------------- must NOT trigger a tool
    ("Can you call me back later?", None, None),
    ("Do you remember what I told you yesterday?", None, None),
    ("Call me back later.", None, None),
    ("Call me when you're done.", None, None),
    ("My name is not important.", None, None),
    ("Hi, my name is not important.", None, None),
    ("Hi, how are you?", None, None),
    ("Hello there!", None, None),
    ("Hey, remember when we went to Paris?", None, None),
    ("Remember when we went to Paris?", None, None),
    ("Forget it.", None, None),
    ("Forget me.", None, None),
    ("Never mind, forget about it.", None, None),
    ("What time does the store close?", None, None),
    ("What time zone is Tokyo in?", None, None),
    ("How long does it take to boil an egg?", None, None),
    ("Why is the sky blue?", None, None),
    ("What is the capital of France?", None, None),
    ("Can you recommend a good book?", None, None),
    ("Tell me a joke.", None, None),
    ("What was my first question?", None, None),
    ("I forget things a lot.", None, None),
    ("I always forget my keys.", None, None),
    ("My sister's birthday is in May.", None, None),
    ("When is my sister's birthday?", None, None),
    ("Do you know what a timer is?", None, None),
    ("How do egg timers work?", None, None),
    ("The timer on my oven is broken.", None, None),
    ("Is the internet down?", None, None),
    ("What is the internet?", None, None),
    ("Switch to English.", None, None),
    ("Let me talk to a human.", None, None),
    ("I want to speak to your manager.", None, None),
    ("What do you know about black holes?", None, None),
    ("Who am I talking to?", None, None),
    ("Set the table for dinner.", None, None),
    ("Note to self: this is fine.", None, None),
    ("It's time to go.", None, None),
    ("What's a good name for a dog?", None, None),
    ("Stop.", None, None),
    ("Cancel my subscription.", None, None),
]

AVATARS = ["Lumina"]

#: The tool the model should call for each intent (None: a local intent only).
MODEL_TOOL: dict[str, str] = {
    "Remember": "remember",
    "Forget": "forget",
    "Recall": "recall",
    "SetName": "set_preferred_name",
    "CurrentTime": "current_time",
    "SetTimer": "set_timer",
    "CancelTimer": "cancel_timer",
    "ListTimers": "list_timers",
    "SwitchAvatar": "switch_avatar",
    "SwitchTo": "switch_avatar",
}


def evaluate(router: IntentRouter) -> dict[str, Any]:
    """Routing accuracy of the local path over :data:`LABELLED`."""
    wrong: list[str] = []
    false_triggers: list[str] = []
    misses: list[str] = []
    positives = negatives = 0
    for text, want, args in LABELLED:
        found = router.match(text, lambda: AVATARS)
        got = found.intent if found is not None else None
        if want is None:
            negatives += 1
            if got is not None:
                false_triggers.append(f"{text!r} -> {got}")
            continue
        positives += 1
        if got is None:
            misses.append(f"{text!r} (want {want})")
        elif got != want or (args is not None and dict(found.arguments) != args):  # type: ignore[union-attr]
            wrong.append(f"{text!r} -> {got} {dict(found.arguments)} (want {want} {args})")  # type: ignore[union-attr]
    errors = len(wrong) + len(false_triggers) + len(misses)
    return {
        "total": len(LABELLED),
        "positives": positives,
        "negatives": negatives,
        "accuracy": 1 - errors / len(LABELLED),
        "wrong": wrong,
        "misses": misses,
        "false_triggers": false_triggers,
    }


async def added_latency(router: IntentRouter, reps: int) -> list[float]:
    """ms that ``IntentRouter.handle`` takes on utterances that use no tool."""
    from luminad.app import open_lumina
    from luminad.providers.embeddings import MiniLmEmbedder
    from luminad.settings import load_settings

    negatives = [text for text, want, _ in LABELLED if want is None]
    with tempfile.TemporaryDirectory() as home:
        app = open_lumina(load_settings({"LUMINA_HOME": home}), MiniLmEmbedder())
        try:
            conversation = await asyncio.to_thread(app.start_conversation)

            async def notify(message: protocol.ServerMessage) -> None:
                raise AssertionError(f"a negative utterance ran a tool: {message}")

            times: list[float] = []
            for _ in range(reps):
                for text in negatives:
                    ctx = ToolContext(
                        app=app,
                        conversation_id=conversation,
                        turn_id=conversation,
                        avatar_id=app.default_avatar_id,
                        notify=notify,
                    )
                    t0 = time.perf_counter()
                    said = await router.handle(text, ctx)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert said is None
            return times
        finally:
            app.close()


class Routed(Exception):
    """The model called a tool: enough to score its routing."""


async def model_routing() -> tuple[str, dict[str, Any]]:
    """Route :data:`LABELLED` through the default embedded model with the tool registry."""
    from luminad.agent.agent import ReplyContext, Responder
    from luminad.app import open_lumina
    from luminad.providers.embeddings import MiniLmEmbedder
    from luminad.providers.llm_choice import load_embedded
    from luminad.settings import load_settings
    from luminad.timers import TimerClock

    llm = load_embedded(load_settings({}))  # the user's model cache (assembled once)
    responder = Responder(llm, intents=None, max_tokens=48)
    right = false_triggers = asked = 0
    wrong: list[str] = []
    times: list[float] = []

    async def notify(message: protocol.ServerMessage) -> None:
        if isinstance(message, protocol.ToolCall):  # routed: the answer after it is not scored
            raise Routed(message.name)

    with tempfile.TemporaryDirectory() as home:
        app = open_lumina(load_settings({"LUMINA_HOME": home}), MiniLmEmbedder())
        clock = TimerClock(app)
        try:
            avatar = app.queries.get_avatar(app.default_avatar_id)
            for text, want, _ in LABELLED:
                if want is not None and want not in MODEL_TOOL:
                    continue
                asked += 1
                conversation = app.start_conversation()
                turn = app.record_utterance(conversation, text, source="text")
                tools = ToolContext(
                    app=app,
                    conversation_id=conversation,
                    turn_id=turn,
                    avatar_id=app.default_avatar_id,
                    notify=notify,
                    timers=clock,
                )
                ctx = ReplyContext(
                    avatar=avatar,
                    preferred_name=None,
                    preferences={},
                    history=[],
                    user_text=text,
                    tools=tools,
                )
                t0 = time.perf_counter()
                with contextlib.suppress(LuminaError):  # Routed ends the run as a model failure
                    _ = [d async for d in responder.stream_reply(ctx)]
                times.append((time.perf_counter() - t0) * 1000)
                called = [c.name for c in tools.calls]
                print(f"model: {text!r} -> {called}", file=sys.stderr, flush=True)
                expected = MODEL_TOOL.get(want) if want is not None else None
                if expected is None:
                    if called:
                        false_triggers += 1
                        wrong.append(f"{text!r} -> {called} (want no tool)")
                    else:
                        right += 1
                elif called[:1] == [expected]:
                    right += 1
                else:
                    wrong.append(f"{text!r} -> {called} (want {expected})")
        finally:
            await clock.close()
            app.close()
    return llm.model, {
        "asked": asked,
        "accuracy": right / asked,
        "false_triggers": false_triggers,
        "wrong": wrong,
        "p50_ms": statistics.median(times),
    }


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="latency passes over the negatives")
    parser.add_argument("--model", action="store_true", help="also route through the model")
    args = parser.parse_args()
    load = os.getloadavg()
    t0 = time.perf_counter()
    router = IntentRouter()
    startup_ms = (time.perf_counter() - t0) * 1000
    result = evaluate(router)
    times = asyncio.run(added_latency(router, args.reps))
    model = asyncio.run(model_routing()) if args.model else None
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"`bench/intents.py --reps {args.reps}` on {platform.machine()}, {os.cpu_count()} cores, "
        f"{when}; load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, "
        f"at end {os.getloadavg()[0]:.1f} (other jobs share these cores: treat times as upper "
        "bounds)."
    )
    print()
    print(
        "| path | utterances | commands | must not trigger | accuracy | false triggers | misses "
        "| wrong intent/slots |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| local (hassil, luminad/agent/intents/en.yaml) | {result['total']} "
        f"| {result['positives']} | {result['negatives']} | {100 * result['accuracy']:.1f} % "
        f"| {len(result['false_triggers'])} | {len(result['misses'])} | {len(result['wrong'])} |"
    )
    if model is not None:
        name, m = model
        print(
            f"| model only ({name}, tools offered, no local intents) | {m['asked']} | — | — "
            f"| {100 * m['accuracy']:.1f} % | {m['false_triggers']} | — "
            f"| {len(m['wrong']) - m['false_triggers']} |"
        )
    print()
    print(
        f"Time the intent layer adds to a turn that uses no tool (`IntentRouter.handle`, "
        f"{len(times)} calls): p50 {statistics.median(times):.2f} ms, p95 {pct(times, 0.95):.2f} "
        f"ms, max {max(times):.2f} ms (target <= 10 ms). Router start (templates + number "
        f"words): {startup_ms:.0f} ms, once per daemon."
    )
    if model is not None:
        print(
            f"Model path: p50 {model[1]['p50_ms']:.0f} ms a turn (to the first tool call, or the "
            "whole reply when none)."
        )
    for title, items in (
        ("false triggers", result["false_triggers"]),
        ("misses", result["misses"]),
        ("wrong", result["wrong"]),
        ("model path", model[1]["wrong"] if model is not None else []),
    ):
        for item in items:
            print(f"- {title}: {item}")


if __name__ == "__main__":
    main()
