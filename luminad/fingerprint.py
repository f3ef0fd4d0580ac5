"""Fingerprints of shredded content: salted hashes of its word 4-grams, kept at forget time so
the audit can later prove that no plaintext of it survives in any file, without keeping it.

A 4-gram of four words is what a leaked sentence would leave as contiguous bytes in a file;
the hashes are truncated SHA-256 of salt + the words (lower case, single spaces).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

N = 4
#: At most this many fingerprints per forgetting (an even sample of all of them).
MAX_FINGERPRINTS = 20_000
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
# Runs of printable ASCII or UTF-8 (random bytes of an encrypted file rarely make one).
_TEXT_RUN = re.compile(rb"(?:[\x20-\x7e]|[\xc2-\xf4][\x80-\xbf]{1,3}){12,}")
_CHUNK, _OVERLAP = 1 << 22, 1 << 12


def _grams(text: str) -> Iterator[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < N:
        if len(" ".join(words)) >= 12:
            yield " ".join(words)
        return
    for i in range(len(words) - N + 1):
        yield " ".join(words[i : i + N])


def texts_of(value: Any) -> Iterator[str]:
    """The strings inside a field value (str, list, dict)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from texts_of(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts_of(item)


def digest(salt: bytes, gram: str) -> str:
    return hashlib.sha256(salt + gram.encode()).hexdigest()[:16]


def fingerprint(texts: Iterable[str]) -> tuple[str, list[str]]:
    """(salt hex, sorted hashes) of the texts' 4-grams."""
    salt = secrets.token_bytes(16)
    hashes = sorted({digest(salt, gram) for text in texts for gram in _grams(text)})
    if len(hashes) > MAX_FINGERPRINTS:
        step = len(hashes) / MAX_FINGERPRINTS
        hashes = [hashes[int(i * step)] for i in range(MAX_FINGERPRINTS)]
    return salt.hex(), hashes


def scan(roots: Iterable[Path], salt_hex: str, hashes: Iterable[str]) -> tuple[int, dict[str, int]]:
    """Search the text runs of every file under ``roots`` for the fingerprints: (files scanned,
    hits per file name)."""
    salt, wanted = bytes.fromhex(salt_hex), set(hashes)
    files, hits = 0, {}
    for root in roots:
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            files += 1
            found: set[str] = set()
            with path.open("rb") as fh:
                tail = b""
                while chunk := fh.read(_CHUNK):
                    for run in _TEXT_RUN.findall(tail + chunk):
                        text = run.decode("utf-8", errors="ignore")
                        found.update(h for g in _grams(text) if (h := digest(salt, g)) in wanted)
                    tail = chunk[-_OVERLAP:]
            if count := len(found):
                hits[path.name] = count
    return files, hits
