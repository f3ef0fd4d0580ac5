"""Durability: SIGKILL a writer process at random moments, then check nothing acknowledged is
lost and the projections resume with no gap and no duplicate.

    .venv/bin/python bench/durability.py [--runs 200] [--seed 1]

Each run forks a writer that opens Lumina on the same data dir and loops over commands
(utterances, replies, memories, timings), writing an acknowledgement line to a pipe after each
command returns. The parent kills it with SIGKILL after a random delay, reopens the store (which
catches the projections up) and checks every acknowledged fact against the log and the read
models. The test suite runs the same check 30 times (tests/projections).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from luminad.app import Lumina, open_lumina
from luminad.providers.base import Embedder
from luminad.settings import Settings, load_settings

EmbedderFactory = Callable[[], Embedder]


@dataclass
class Report:
    runs: int = 0
    acked: int = 0
    lost: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.lost and not self.problems


def _settings(home: str, store: str) -> Settings:
    return load_settings({"LUMINA_HOME": home, "LUMINA_STORE": store})


def _writer(home: str, store: str, ack_fd: int, make_embedder: EmbedderFactory) -> None:
    app = open_lumina(_settings(home, store), make_embedder())
    conversation = app.start_conversation()
    i = 0
    while True:
        turn = app.record_utterance(conversation, f"utterance {i}")
        os.write(ack_fd, f"turn {conversation} {turn}\n".encode())
        if i % 2 == 0:
            app.complete_reply(conversation, turn, f"reply {i}")
            os.write(ack_fd, f"reply {conversation} {turn}\n".encode())
        if i % 3 == 0:
            memory = app.remember(f"memory number {i}")
            os.write(ack_fd, f"memory {memory}\n".encode())
            app.time_turn(conversation, turn, {"stt_ms": float(i)})
        i += 1


def _one_run(
    home: str, store: str, rng: random.Random, make_embedder: EmbedderFactory, max_delay: float
) -> list[str]:
    ctx = multiprocessing.get_context("fork")
    read_fd, write_fd = os.pipe()
    proc = ctx.Process(target=_writer, args=(home, store, write_fd, make_embedder), daemon=True)
    proc.start()
    os.close(write_fd)
    time.sleep(rng.uniform(0.0, max_delay))
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    chunks = []
    while chunk := os.read(read_fd, 1 << 16):
        chunks.append(chunk)
    os.close(read_fd)
    lines = b"".join(chunks).decode().splitlines()
    return [line for line in lines if line.count(" ") >= 1]


def check(app: Lumina, acks: list[str]) -> tuple[list[str], list[str]]:
    """(acknowledged facts missing, other problems) after reopening."""
    lost, problems = [], []
    events = []
    after = 0
    while batch := app.queries.events(after=after, limit=5000):
        events.extend(batch)
        after = batch[-1].position
    positions = [e.position for e in events]
    if positions != sorted(set(positions)):
        problems.append("log positions not strictly increasing")
    if app.read.position() != (positions[-1] if positions else 0):
        problems.append(f"read models at {app.read.position()}, log at {positions[-1]}")
    logged = {
        (e.type, e.aggregate_id, str(e.data.get("turn_id")) if isinstance(e.data, dict) else "")
        for e in events
    }
    turns: dict[str, list[tuple[str, str]]] = {}
    for conversation in app.queries.list_conversations(limit=10_000):
        turns[conversation.id] = [(t.turn_id, t.role) for t in conversation.turns]
        if len(set(turns[conversation.id])) != len(turns[conversation.id]):
            problems.append(f"duplicate turn rows in {conversation.id}")
    n_utterances = sum(e.type == "UtteranceTranscribed" for e in events)
    if sum(r == "user" for ts in turns.values() for _, r in ts) != n_utterances:
        problems.append("user turns in the read model differ from the log")
    memories = {m.id for m in app.queries.list_memories()}
    if len(memories) != sum(e.type == "MemoryRemembered" for e in events):
        problems.append("memories in the read model differ from the log")
    if app.read.orphan_vectors():
        problems.append("orphan vectors")
    for ack in acks:
        kind, *ids = ack.split()
        if kind == "memory":
            ok = ("MemoryRemembered", ids[0], "None") in logged and ids[0] in memories
        else:
            etype = "UtteranceTranscribed" if kind == "turn" else "ReplyCompleted"
            role = "user" if kind == "turn" else "assistant"
            ok = (etype, ids[0], ids[1]) in logged and (ids[1], role) in turns.get(ids[0], [])
        if not ok:
            lost.append(ack)
    return lost, problems


def kill_runs(
    home: Path,
    runs: int,
    make_embedder: EmbedderFactory,
    *,
    seed: int = 1,
    max_delay: float = 0.3,
    store: str = "sqlite",
) -> Report:
    """``runs`` kill-and-recover cycles on one data dir; the report lists any loss."""
    rng = random.Random(seed)
    report = Report()
    started = time.perf_counter()
    acks: list[str] = []
    embedder = make_embedder()
    for _ in range(runs):
        acks += _one_run(str(home), store, rng, make_embedder, max_delay)
        app = open_lumina(_settings(str(home), store), embedder)
        try:
            lost, problems = check(app, acks)
        finally:
            app.close()
        report.runs += 1
        report.lost += lost
        report.problems += problems
    report.acked = len(acks)
    report.seconds = time.perf_counter() - started
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", default="sqlite", help="sqlite or a postgresql:// URL")
    args = parser.parse_args()
    from luminad.providers.embeddings import MiniLmEmbedder

    with tempfile.TemporaryDirectory() as tmp:
        report = kill_runs(
            Path(tmp),
            args.runs,
            lambda: MiniLmEmbedder(threads=1),
            seed=args.seed,
            max_delay=1.5,
            store=args.store,
        )
    print(f"| durability: SIGKILL runs | {report.runs} |")
    print(f"| acknowledged facts checked | {report.acked} |")
    print(f"| lost / problems | {len(report.lost)} / {len(report.problems)} |")
    print(f"| wall time | {report.seconds:.1f} s |")
    for line in (report.lost + report.problems)[:20]:
        print("  ", line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
