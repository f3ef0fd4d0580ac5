"""CPU time from Linux's /proc, for the benchmark's idle wait and the thread-spin test."""

from __future__ import annotations

import os


def cpu_seconds(stat: str) -> float | None:
    """User + system CPU time (s) from a ``/proc/<pid>/stat`` or ``/proc/<pid>/task/<tid>/stat``
    file; None when it is gone (or not Linux)."""
    try:
        with open(stat, encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
