"""Conversation quality: scripted multi-turn text dialogues through the real agent, scored.

Every dialogue is played turn by turn through :class:`luminad.agent.agent.Responder` (the same
agent, prompt and history handling the voice session uses), with the history of the dialogue so
far. Each reply is scored by checks a script can make:

- ``english``: the reply is English (Latin letters, common English words);
- ``short``: at most two spoken sentences;
- ``plain``: no markdown (``**``, ``#`` headings, list bullets, backticks, links);
- ``expect``: where the script says so, the reply contains one of the expected words (this is
  how a dialogue checks that the model recalls the user's name, an earlier fact, or answers a
  follow-up question on topic);
- ``own``: the reply is the assistant's own words to the user: it neither repeats the user's
  message (of four words or more) nor speaks of "the user" (the wording of the note of what the
  assistant knows: a small model recites it, "The user has two cats called Pixel and Mango.");
- ``addressed``: a question the user asks about themselves ("What is my name?", "How old am
  I?") is answered to them: the reply does not open with "I" or "My" ("I am nine years old.")
  and does not speak of "the user";
- ``distinct`` (one per dialogue): no two replies of the dialogue are the same.

The score is the share of checks passed, per model and per prompt variant:

- ``turn`` (the default): persona + one style rule in the system prompt (cached all session),
  what the assistant knows this turn (name, memories) in a note in front of the user's words;
- ``system``: the same facts in the system prompt instead;
- ``long``: the wave-1 prompt (two persona texts and two style rules, facts in the system
  prompt), for comparison.

Usage::

    .venv/bin/python bench/dialogue.py                       # Qwen 0.5B (the default), all variants
    .venv/bin/python bench/dialogue.py --models qwen,smollm2 --variants turn
    .venv/bin/python bench/dialogue.py --openai-url http://127.0.0.1:8000/v1 --openai-model m
    .venv/bin/python bench/dialogue.py --dialogues recorded.json --verbose

Dialogues file (``--dialogues``; the ``replay`` helper exports recorded conversations in this
format)::

    {"dialogues": [
      {"name": "sister's birthday",          # any label
       "preferred_name": "Sam",              # optional: the name the app knows for the user
       "turns": [
         {"user": "My sister's birthday is on May third.",
          "memories": [],                    # optional: what memory recall gives for this turn
          "expect": [],                      # optional: the reply must contain one of these
          "reply": "Nice, I will remember."}, # optional: the reply recorded (not scored)
         {"user": "When is my sister's birthday?", "expect": ["may 3", "may third", "3rd"]}
       ]}
    ]}

``expect`` words are matched case-insensitively as substrings of the reply.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import publish
from luminad import protocol
from luminad.agent.agent import ReplyContext, Responder
from luminad.agent.prompts import PromptTemplate
from luminad.domain.avatar import BUILTIN_DEFAULTS
from luminad.providers.base import ChatMessage, ChatModel
from luminad.settings import load_settings

#: The wave-1 default: our persona and style rule plus the built-in avatar's own (issue 10).
LONG = PromptTemplate(
    persona="You are {name}, a friendly personal assistant. "
    "You are Lumina, a warm, concise voice assistant that runs on the user's computer.",
    style="Answer in one or two short spoken sentences: plain words, no lists, no markdown, "
    "no emojis.\nStyle: Answer in one to three short spoken sentences. No lists, no markdown.\n"
    "If you do not know, say so. Politely refuse harmful requests.",
    context="system",
)
VARIANTS = {"turn": PromptTemplate(), "system": PromptTemplate(context="system"), "long": LONG}


CATS = "The user has two cats called Pixel and Mango."
LISBON = "The user lives in Lisbon."
DINOSAURS = "The user likes dinosaurs."
AGE = "The user is nine years old."
NURSE = "The user works as a nurse."
DOG = "The user has a dog called Biscuit."
REX = "The user has a dog called Rex."
LYON = "The user lives in Lyon."


def T(user: str, *expect: str, memories: Sequence[str] = ()) -> dict[str, Any]:
    return {"user": user, "expect": list(expect), "memories": list(memories)}


# fmt: off
#: Built-in dialogues: name and fact recall, follow-ups on topic, small talk, advice.
DIALOGUES: list[dict[str, Any]] = [
    {"name": "name recall", "turns": [
        T("Hi, my name is Sam."), T("What is the capital of France?", "paris"),
        T("What is my name?", "sam")]},
    {"name": "sister's birthday", "turns": [
        T("My sister's birthday is on May third."), T("Can you suggest a gift for her?"),
        T("When is my sister's birthday?", "may 3", "may third", "3rd of may")]},
    {"name": "capitals follow-up", "turns": [
        T("What is the capital of France?", "paris"), T("And what about Italy?", "rome"),
        T("Which country did I ask about first?", "france")]},
    {"name": "dog's name", "turns": [
        T("I have a dog called Biscuit."), T("How often should I walk a dog?"),
        T("What is my dog called?", "biscuit")]},
    {"name": "favourite colour", "turns": [
        T("My favourite colour is teal."), T("Why is the sky blue?", "scatter", "light"),
        T("What is my favourite colour?", "teal")]},
    {"name": "arithmetic", "turns": [
        T("What is two plus three?", "5", "five"), T("And times four?", "20", "twenty"),
        T("Thanks!")]},
    {"name": "home town", "turns": [
        T("I live in Lisbon."), T("What is the weather usually like there in summer?",
                                  "hot", "warm", "sunny", "dry"),
        T("Which city do I live in?", "lisbon")]},
    {"name": "name from the app", "preferred_name": "Ada", "turns": [
        T("Hello!"), T("Do you know my name?", "ada")]},
    {"name": "memory recall", "turns": [
        T("What should I cook tonight?"),
        T("What is my sister called?", "ana",
          memories=["The user's sister is called Ana."])]},
    {"name": "book then author", "turns": [
        T("Who wrote Pride and Prejudice?", "austen"),
        T("When was it published?", "1813", "19th", "nineteenth", "eighteen"),
        T("What was the book we talked about?", "pride")]},
    {"name": "planets", "turns": [
        T("What is the largest planet?", "jupiter"), T("And the smallest?", "mercury"),
        T("Which planet did you name first?", "jupiter")]},
    {"name": "job", "turns": [
        T("I work as a nurse."), T("Any tips for staying awake on a night shift?"),
        T("What do I do for a living?", "nurse")]},
    {"name": "allergy", "turns": [
        T("I am allergic to peanuts."), T("Is a satay sauce safe for me?", "peanut", "no"),
        T("What am I allergic to?", "peanut")]},
    {"name": "name and age", "turns": [
        T("My name is Leo and I am nine years old."), T("Tell me a fun fact about space."),
        T("How old am I?", "9", "nine"), T("And what is my name?", "leo")]},
    {"name": "small talk", "turns": [
        T("Good morning!"), T("How are you today?"), T("What can you help me with?")]},
    {"name": "recipe follow-up", "turns": [
        T("How do I boil an egg?", "water", "boil"),
        T("How long for a soft yolk?", "minute"), T("Thanks, that helps.")]},
    {"name": "language", "turns": [
        T("How do you say hello in Spanish?", "hola"),
        T("And thank you?", "gracias"), T("Which language were we practising?", "spanish")]},
    {"name": "car", "turns": [
        T("My car is a red Volvo."), T("How often should I change the oil?"),
        T("What colour is my car?", "red")]},
    {"name": "meeting", "turns": [
        T("I have a dentist appointment on Friday."), T("Any tips to calm my nerves?"),
        T("When is my appointment?", "friday")]},
    {"name": "history", "turns": [
        T("Who was the first person on the moon?", "armstrong"),
        T("In which year?", "1969"), T("Who did I ask you about?", "armstrong")]},
    {"name": "pet memory", "turns": [
        T("Do you remember my cat?", "whiskers",
          memories=["The user has a cat called Whiskers."]),
        T("What should I feed a cat?")]},
    {"name": "weekend plan", "turns": [
        T("This weekend I want to go hiking in the Alps."), T("What should I pack?"),
        T("Where am I going this weekend?", "alps")]},
    # what the daemon knows once the user told it: their name on every turn, and the memories
    # its recall gives for the words (cosine >= 0.25 with all-MiniLM-L6-v2, measured)
    {"name": "known: cats", "preferred_name": "Dana", "turns": [
        T("I have two cats called Pixel and Mango."),
        T("What are my cats called?", "pixel", memories=[CATS]),
        T("What is the capital of France?", "paris"), T("And what about Italy?", "rome")]},
    {"name": "known: home town", "preferred_name": "Sam", "turns": [
        T("Good morning!"),
        T("What should I wear if it rains today?", "umbrella", "rain", "coat", "jacket"),
        T("Where do I live?", "lisbon", memories=[LISBON])]},
    {"name": "known: age", "preferred_name": "Leo", "turns": [
        T("Tell me a joke."), T("What was the biggest dinosaur?", memories=[DINOSAURS]),
        T("How old am I?", "9", "nine", memories=[AGE])]},
    {"name": "known: night shift", "preferred_name": "Ada", "turns": [
        T("I'm tired after my shift."),
        T("How can I sleep better during the day?", "dark", "curtain", "quiet", "routine"),
        T("What is my dog called?", "biscuit", memories=[DOG, CATS])]},
    # memories the user stored in their own words ("Remember that my ...", `lumina memories add`)
    {"name": "known in their words", "preferred_name": "Dana", "turns": [
        T("Good evening!"),
        T("When is my sister's birthday?", "march 3", "3rd of march", "march third",
          memories=["My sister's birthday is on March 3rd."]),
        T("What is my cat called?", "turing", memories=["My cat is called Turing."]),
        T("Where do I live?", "lyon", memories=["I live in Lyon."])]},
    # a question about themselves as the first turn of a conversation (`lumina say`, a new
    # voice session): only the memories recalled, no history to lean on
    {"name": "asked first: dog", "turns": [
        T("What is my dog called?", "rex", memories=[REX, LYON])]},
    {"name": "asked first: sister", "turns": [
        T("What is my sister called?", "ana", memories=["The user's sister is called Ana."])]},
    {"name": "asked first: colour", "turns": [
        T("What's my favourite colour?", "teal",
          memories=["The user's favourite colour is teal."])]},
]
# fmt: on

_SENTENCE = re.compile(r"[^.!?]*[A-Za-z][^.!?]*(?:[.!?]+|$)")
_MARKDOWN = re.compile(r"\*\*|__|`|^\s*#|^\s*[-*•]\s|^\s*\d+[.)]\s|\[[^\]]+\]\(", re.M)
#: The most common English words: an English reply uses some of them.
_ENGLISH_WORDS = (
    "the a an is are was were be been am i you he she it we they me him her us them my your his "
    "its our their this that these those what which who when where why how to of and or but in "
    "on at by for from with about as into than then so if not no yes do does did have has had "
    "will would can could should may might must there here all some any more most very just "
    "also one two three four five plus times equals thank thanks hello hi sorry please good"
)
_ENGLISH = frozenset(_ENGLISH_WORDS.split(" "))


def spoken_sentences(text: str) -> int:
    """Sentences in ``text`` (numbers like 3.5 do not end one)."""
    text = re.sub(r"(\d)\.(\d)", r"\1\2", text)
    return sum(1 for s in _SENTENCE.findall(text) if len(s.split()) >= 1)


def is_english(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    latin = sum(1 for c in letters if c.isascii()) / len(letters)
    words = re.findall(r"[a-z']+", text.lower())
    return latin >= 0.95 and (len(words) <= 3 or any(w in _ENGLISH for w in words))


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


#: A question about the asker ("my", "I"), and a reply that opens as the asker would.
_ABOUT_THEMSELVES = re.compile(r"\b(?:my|i)\b", re.IGNORECASE)
_OPENS_AS_THE_USER = re.compile(r"(?:i|i'm|i've|my)\b", re.IGNORECASE)
#: The wording of the note of what the assistant knows, which a reply must not recite.
_THE_USER = re.compile(r"\bthe user\b", re.IGNORECASE)


def own_words(reply: str, user: str) -> bool:
    """The reply is said to the user: it does not repeat their message (four words or more)
    and does not speak of "the user"."""
    said = _norm(user)
    echoed = len(said.split()) >= 4 and said in _norm(reply)
    return not echoed and not _THE_USER.search(reply)


@dataclass
class Score:
    passed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_ms: list[float] = field(default_factory=list)
    reply_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, where: str) -> None:
        self.total[name] += 1
        self.passed[name] += ok
        if not ok:
            self.failures.append(f"{name}: {where}")

    @property
    def share(self) -> float:
        return sum(self.passed.values()) / max(1, sum(self.total.values()))


async def play(responder: Responder, dialogue: dict[str, Any], score: Score, verbose: bool) -> None:
    avatar = protocol.Avatar(id="bench", builtin=True, **BUILTIN_DEFAULTS)
    history: list[ChatMessage] = []
    replies: list[str] = []
    name = dialogue.get("name", "?")
    for turn in dialogue["turns"]:
        ctx = ReplyContext(
            avatar=avatar, preferred_name=dialogue.get("preferred_name"), preferences={},
            history=list(history), user_text=turn["user"], memories=turn.get("memories", []),
        )  # fmt: skip
        t0 = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        async for delta in responder.stream_reply(ctx):
            if first is None:
                first = 1000 * (time.perf_counter() - t0)
            parts.append(delta)
        score.reply_ms.append(1000 * (time.perf_counter() - t0))
        if first is not None:
            score.first_ms.append(first)
        reply = "".join(parts).strip()
        where = f"[{name}] {turn['user']!r} -> {reply!r}"
        if verbose:
            print(f"  {where}", flush=True)
        score.check("english", is_english(reply), where)
        score.check("short", spoken_sentences(reply) <= 2, where)
        score.check("plain", not _MARKDOWN.search(reply), where)
        if turn.get("expect"):
            low = reply.lower()
            score.check("expect", any(w.lower() in low for w in turn["expect"]), where)
        score.check("own", own_words(reply, turn["user"]), where)
        if _ABOUT_THEMSELVES.search(turn["user"]) and turn["user"].rstrip().endswith("?"):
            answered_as_user = _OPENS_AS_THE_USER.match(reply) or _THE_USER.search(reply)
            score.check("addressed", not answered_as_user, where)
        replies.append(reply)
        history += [ChatMessage("user", turn["user"]), ChatMessage("assistant", reply)]
    normed = [_norm(r) for r in replies]
    score.check("distinct", len(set(normed)) == len(normed), f"[{name}] {replies!r}")


def load_model(name: str, args: argparse.Namespace) -> ChatModel:
    settings = load_settings({})
    if name == "openai":
        from luminad.providers.openai_compat import OpenAICompatLLM

        return OpenAICompatLLM(args.openai_url, args.openai_model, api_key=args.openai_key)
    from luminad.providers.gguf_files import resolve_gguf
    from luminad.providers.llamacpp import EmbeddedLLM

    path = resolve_gguf(name, settings.models_cache_dir)
    return EmbeddedLLM(path, threads=settings.stt_threads, temperature=args.temperature)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="qwen", help="qwen, smollm2, a GGUF path (comma list)")
    ap.add_argument("--variants", default="turn,system,long", help=", ".join(VARIANTS))
    ap.add_argument("--openai-url", default="", help="also score this OpenAI-compatible server")
    ap.add_argument("--openai-model", default="")
    ap.add_argument("--openai-key", default="not-needed")
    ap.add_argument("--dialogues", type=Path, help="a JSON file of dialogues (see above)")
    ap.add_argument("--limit", type=int, default=0, help="play only the first N dialogues")
    ap.add_argument("--max-tokens", type=int, default=load_settings({}).max_reply_tokens)
    ap.add_argument("--temperature", type=float, default=0.3)
    ap.add_argument("--verbose", action="store_true", help="print every reply")
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = ap.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())

    dialogues = json.loads(args.dialogues.read_text())["dialogues"] if args.dialogues else DIALOGUES
    if args.limit:
        dialogues = dialogues[: args.limit]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.openai_url:
        models.append("openai")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    n_turns = sum(len(d["turns"]) for d in dialogues)
    print(f"bench/dialogue.py: {len(dialogues)} dialogues, {n_turns} turns, "
          f"max {args.max_tokens} tokens, temperature {args.temperature}")  # fmt: skip
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.python_version()}; "
          f"load at start {os.getloadavg()}")  # fmt: skip
    rows: list[tuple[str, ...]] = []
    for model_name in models:
        llm = load_model(model_name, args)
        for variant in variants:
            responder = Responder(llm, max_tokens=args.max_tokens, prompt=VARIANTS[variant])
            score = Score()
            t0 = time.perf_counter()
            print(f"\n== {model_name} ({llm.model}), prompt {variant}", flush=True)
            for dialogue in dialogues:
                asyncio.run(play(responder, dialogue, score, args.verbose))
            for line in score.failures:
                print(f"  FAIL {line}")
            checks = " ".join(f"{k} {score.passed[k]}/{score.total[k]}" for k in score.total)
            first = sorted(score.first_ms)[len(score.first_ms) // 2] if score.first_ms else 0
            reply = sorted(score.reply_ms)[len(score.reply_ms) // 2]
            print(f"  score {100 * score.share:.1f}% ({checks}); first token p50 {first:.0f} ms, "
                  f"reply p50 {reply:.0f} ms; {time.perf_counter() - t0:.0f} s; "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
            rows.append((model_name, llm.model, variant, f"{100 * score.share:.1f}%", checks,
                         f"{first:.0f}", f"{reply:.0f}"))  # fmt: skip
        close = getattr(llm, "close", None)
        if close is not None:
            close()
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    command = " ".join(["bench/dialogue.py", *sys.argv[1:]]).replace(" --write", "")
    text = "\n".join(
        [
            "## Conversation quality",
            "",
            f"`{command}` (started {started}, {platform.machine()}, {os.cpu_count()} cores; "
            f"load average {load_start} at the start, {load_end} at the end). "
            f"{len(dialogues)} dialogues, {n_turns} turns, max {args.max_tokens} tokens, "
            f"temperature {args.temperature}; the checks are the script's docstring's.",
            "",
            "| model | file | prompt | score | checks | first token p50 ms | reply p50 ms |",
            "|---|---|---|---|---|---|---|",
            *("| " + " | ".join(row) + " |" for row in rows),
        ]
    )
    publish("Conversation quality", text, write=args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
