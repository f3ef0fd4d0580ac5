"""SQLite connections: the read models in a SQLCipher file (``sqlcipher3-binary``) with the
sqlite-vec extension loaded, and plain SQLite for compacting the event store.

For plain files the standard ``sqlite3`` module is used when it can load extensions; otherwise
(this machine's Python, macOS's system Python) ``pysqlite3`` from ``pysqlite3-binary``.
A SQLCipher file is encrypted page by page (AES-256, a raw 256-bit key from the key store, so no
key derivation at open): neither its rows nor its schema are readable without the key.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import cast

import sqlite_vec

_module: ModuleType | None = None


def sqlite_module() -> ModuleType:
    """The sqlite3 DB-API module that can load extensions."""
    global _module
    if _module is None:
        if hasattr(sqlite3.Connection, "enable_load_extension"):
            _module = sqlite3
        else:
            _module = importlib.import_module("pysqlite3.dbapi2")
    return _module


#: SQLite's header: a file that starts with it is not encrypted.
PLAIN_HEADER = b"SQLite format 3\x00"
#: Page cache of an encrypted connection, KiB. SQLCipher cannot memory-map (every page is
#: decrypted on read), so vector search reads its chunks through this cache: 160 MiB hold the
#: vectors of 100k memories (384 float32 each), and with them search stays in its target.
CACHE_KIB = 160 * 1024


class UnreadableDatabase(Exception):
    """The file is not a database this key opens (another key, or damaged)."""


def connect(path: Path | str, *, vec: bool = True, key: bytes | None = None) -> sqlite3.Connection:
    """An autocommit connection (explicit ``BEGIN``), WAL journal, secure_delete on; encrypted
    with SQLCipher under ``key`` (32 bytes) when given, else plain with a memory map.

    ``secure_delete`` makes SQLite overwrite deleted content with zeros, so purged rows do
    not linger in free pages.
    """
    mod = importlib.import_module("sqlcipher3.dbapi2") if key is not None else sqlite_module()
    conn = cast(
        sqlite3.Connection,
        mod.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10),
    )
    if key is not None:
        if len(key) != 32:
            raise ValueError("a SQLCipher key is 32 bytes")
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        except mod.DatabaseError as e:
            conn.close()
            raise UnreadableDatabase(str(path)) from e
    if vec:
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA secure_delete=ON")
    if key is None:
        # Vector search scans every vector; reading them through a memory map instead of the
        # page cache makes a 100k-vector query about a third faster.
        conn.execute("PRAGMA mmap_size=1073741824")
    return conn


def rekey(conn: sqlite3.Connection, key: bytes) -> None:
    """Re-encrypt every page of a SQLCipher database under ``key``."""
    conn.execute(f"PRAGMA rekey = \"x'{key.hex()}'\"")


def is_plain(path: Path) -> bool:
    """Whether ``path`` is an unencrypted SQLite file."""
    try:
        with path.open("rb") as fh:
            return fh.read(len(PLAIN_HEADER)) == PLAIN_HEADER
    except FileNotFoundError:
        return False


def shred_file(path: Path) -> None:
    """Overwrite a database file (and its WAL and shared-memory files) with zeros, then remove
    it: what an old plain read model held does not stay in its blocks."""
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if not part.exists():
            continue
        size = part.stat().st_size
        with part.open("r+b") as fh:
            while fh.tell() < size:
                fh.write(b"\0" * min(1 << 20, size - fh.tell()))
            fh.flush()
            os.fsync(fh.fileno())
        part.unlink()


def compact(conn: sqlite3.Connection) -> None:
    """WAL checkpoint (truncate), VACUUM with secure_delete on, checkpoint again: afterwards no
    freed page and no WAL frame keeps deleted content."""
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
