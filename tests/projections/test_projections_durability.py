"""SIGKILL a writer at random moments: nothing acknowledged is lost, projections resume with
no gap and no duplicate (30 runs here; bench/durability.py does 200)."""

from __future__ import annotations

from pathlib import Path

from bench.durability import kill_runs
from tests.domain.harness import FakeEmbedder


def test_killed_writers_lose_nothing_acknowledged(tmp_path: Path) -> None:
    report = kill_runs(tmp_path, 30, FakeEmbedder, seed=7, max_delay=0.25)
    assert report.runs == 30
    assert report.acked > 100, "the writer should have acknowledged work before being killed"
    assert report.lost == []
    assert report.problems == []
