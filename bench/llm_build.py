"""The embedded LLM on two llama.cpp builds in one run: the time to a spoken question's first token
and the tokens per second after it.

    .venv/bin/python bench/llm_build.py --other DIR [--models qwen,smollm2] [--rounds 3] [--write]

``DIR`` holds another build of llama-cpp-python, e.g. the portable one:
``CMAKE_ARGS=-DGGML_NATIVE=OFF pip wheel --no-deps --no-cache-dir llama-cpp-python==VERSION`` and
``pip install --no-deps --target DIR`` of that wheel. The build this venv has is measured against
it. A build is a shared library, one per process: each round runs one child process per build,
the builds alternating, so the machine's drift falls alike on both. A child loads the model as
the daemon does (``LUMINA_EMBEDDED_MODEL``, the daemon's threads), evaluates the daemon's system
prompt once (the voice session primes it), then asks the voice benchmark's questions one by one:
each question's prompt is evaluated after the cached system prompt, as in a voice turn, and the
reply is written to ``--tokens`` tokens (end-of-turn tokens banned). Prints a Markdown section.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engines import time_reply  # noqa: E402
from bench.results import publish  # noqa: E402
from bench.voice import UTTERANCES, fmt, load_text, machine, pct  # noqa: E402

QUESTIONS = [" ".join(parts) for parts in UTTERANCES]


@dataclass(frozen=True)
class Run:
    """One child's measurements: its build's features, the model, and per question the first
    token's time (ms) and the tokens per second after it."""

    features: str
    model: str
    first: list[float]
    rates: list[float]


def build_features() -> str:
    """What the loaded llama.cpp was compiled for, as it prints it (``AVX512 = 1 | ...``)."""
    from llama_cpp import llama_cpp as lib

    info = lib.llama_print_system_info().decode()
    return " ".join(
        flag.split("=")[0].strip() for flag in info.split("|") if flag.strip().endswith("= 1")
    ).replace("CPU : ", "")


async def _measure(model: str, tokens: int) -> Run:
    from luminad.agent.prompts import PromptTemplate
    from luminad.providers.llamacpp import EmbeddedLLM
    from luminad.providers.llm_choice import load_embedded
    from luminad.settings import load_settings

    llm = load_embedded(load_settings({"LUMINA_EMBEDDED_MODEL": model}))
    assert isinstance(llm, EmbeddedLLM)
    # both models write ChatML: ban its end of turn and the GGUF's end of text
    engine = llm._llm
    ends = {engine.token_eos(), *engine.tokenize(b"<|im_end|>", add_bos=False, special=True)}
    llm.logit_bias = {t: -100.0 for t in ends}
    system = PromptTemplate().system()
    await time_reply(llm, "Hello.", max_tokens=1, system=system)  # primes the system prompt
    first, rates = [], []
    for question in QUESTIONS:
        t_first, _, rate = await time_reply(llm, question, max_tokens=tokens, system=system)
        first.append(t_first * 1000)
        rates.append(rate)
    llm.close()
    return Run(build_features(), llm.model, first, rates)


def child(model: str, tokens: int) -> None:
    print(json.dumps(asdict(asyncio.run(_measure(model, tokens)))))


def run_child(model: str, tokens: int, pythonpath: str | None) -> Run:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, str(ROOT)])
    out = subprocess.run(
        [sys.executable, __file__, "--child", model, "--tokens", str(tokens)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Run(**json.loads(out.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--other", help="directory holding the other llama-cpp-python build")
    ap.add_argument("--other-name", default="other build")
    ap.add_argument("--models", default="qwen,smollm2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--write", action="store_true", help="update its section of RESULTS.md")
    ap.add_argument("--child", metavar="MODEL", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.tokens)
        return 0
    if not args.other:
        ap.error("--other DIR is required")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = load_text()
    builds = {"this venv's build": None, args.other_name: args.other}
    first: dict[tuple[str, str], list[float]] = defaultdict(list)
    rates: dict[tuple[str, str], list[float]] = defaultdict(list)
    features: dict[str, str] = {}
    names: dict[str, str] = {}
    for model in args.models.split(","):
        for r in range(args.rounds):
            for build, path in builds.items():
                run = run_child(model, args.tokens, path)
                features[build] = run.features
                names[model] = run.model
                first[model, build] += run.first
                rates[model, build] += run.rates
                print(
                    f"  {model} round {r + 1} [{build}]: first token p50 "
                    f"{statistics.median(run.first):.0f} ms; load {load_text()}",
                    file=sys.stderr,
                    flush=True,
                )
    this, other = builds
    lines = [
        "## LLM builds",
        "",
        f"`bench/llm_build.py --models {args.models} --rounds {args.rounds} --tokens "
        f"{args.tokens}` (started {started}, {machine()}; load average at the start "
        f"{load_start}, at the end {load_text()}). Each round runs one child process per "
        "build, alternating; a child primes the daemon's system prompt, then asks the voice "
        f"benchmark's {len(QUESTIONS)} questions, each a new prompt after it (as a voice turn "
        "without history), the reply written to the token count.",
        "",
        *(f"- **{b}**: compiled for {features[b]}" for b in builds),
        "",
        "| model | build | first token p50 / p90 (ms) | tokens/s (median) |",
        "|---|---|---:|---:|",
    ]
    notes = []
    for model in args.models.split(","):
        for b in builds:
            f = first[model, b]
            lines.append(
                f"| {names[model]} | {b} | {statistics.median(f):.0f} / {fmt(pct(f, 0.9))} | "
                f"{statistics.median(rates[model, b]):.1f} |"
            )
        a, o = first[model, this], first[model, other]
        ratio = statistics.median(x / y for x, y in zip(a, o, strict=True))
        notes.append(
            f"- {names[model]}: first token, {this} / {other}, per question and round: "
            f"median {ratio:.2f}; tokens/s {statistics.median(rates[model, this]):.1f} vs "
            f"{statistics.median(rates[model, other]):.1f}."
        )
    publish("LLM builds", "\n".join([*lines, "", *notes]) + "\n", write=args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
