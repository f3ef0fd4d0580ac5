"""SIGKILL a writer at random moments: nothing acknowledged is lost, projections resume with
no gap and no duplicate (30 runs on SQLite and 10 on PostgreSQL here; bench/durability.py
does 200)."""

from __future__ import annotations

from pathlib import Path

from bench.durability import kill_runs
from tests.domain.harness import FakeEmbedder


def test_killed_writers_lose_nothing_acknowledged(tmp_path: Path, store: str) -> None:
    runs, max_delay = (30, 0.25) if store == "sqlite" else (10, 0.8)  # PostgreSQL opens slower
    report = kill_runs(tmp_path, runs, FakeEmbedder, seed=7, max_delay=max_delay, store=store)
    assert report.runs == runs
    assert report.acked > 2 * runs, "the writer should have acknowledged work before being killed"
    assert report.lost == []
    assert report.problems == []
