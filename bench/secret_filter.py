"""Do-not-store filter benchmark: how many secrets it catches and how often it cries wolf.

    .venv/bin/python bench/secret_filter.py [--show]

Runs :func:`luminad.redact.redact` over ``bench/data/secrets.tsv`` (secrets said several ways
vs. ordinary sentences with "token", "key", "pass", "code", "PIN", numbers) and prints recall
and false-alarm rate against the targets (>= 95 % caught, <= 2 % false alarms) as Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from luminad.redact import redact

DATA = Path(__file__).resolve().parent / "data"


def load(path: Path) -> list[tuple[bool, str]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            label, sentence = line.split("\t", 1)
            rows.append((label == "secret", sentence))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print every miss and false alarm")
    parser.add_argument(
        "--data",
        default="secrets.tsv",
        help="file under bench/data: secrets.tsv (the filter was tuned on it) or "
        "secrets_holdout.tsv (written after tuning, never tuned on)",
    )
    args = parser.parse_args()
    path = DATA / args.data
    rows = load(path)
    started = time.perf_counter()
    results = [(secret, text, redact(text)) for secret, text in rows]
    per_ms = (time.perf_counter() - started) * 1000 / len(rows)
    secrets = [r for r in results if r[0]]
    plain = [r for r in results if not r[0]]
    missed = [t for _, t, r in secrets if not r.found]
    alarms = [(t, r.text) for _, t, r in plain if r.found]
    leaked = [r.text for _, t, r in secrets if r.found and _digits_left(t, r.text)]
    recall = 100 * (len(secrets) - len(missed)) / len(secrets)
    false_alarms = 100 * len(alarms) / len(plain)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores; load {os.getloadavg()}")
    print(f"data: {path.name} ({len(secrets)} secrets, {len(plain)} ordinary sentences)\n")
    print("| metric | value | target |")
    print("|---|---|---|")
    caught = len(secrets) - len(missed)
    print(f"| secrets caught | {recall:.1f} % ({caught}/{len(secrets)}) | >= 95 % |")
    print(f"| false alarms | {false_alarms:.1f} % ({len(alarms)}/{len(plain)}) | <= 2 % |")
    print(f"| caught but digits left in the text | {len(leaked)} | 0 |")
    print(f"| time per sentence | {per_ms:.3f} ms | |")
    if args.show:
        for text in missed:
            print(f"missed: {text}")
        for text, redacted in alarms:
            print(f"false alarm: {text} -> {redacted}")
        for text in leaked:
            print(f"digits left: {text}")
    return 0 if recall >= 95 and false_alarms <= 2 and not leaked else 1


def _digits_left(original: str, redacted: str) -> bool:
    """Part of a secret number survives the redaction (a run of 3+ digits in the result)."""
    return re.search(r"\d{3}", redacted) is not None


if __name__ == "__main__":
    raise SystemExit(main())
