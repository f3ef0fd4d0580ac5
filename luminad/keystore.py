"""Per-user data keys and AES-GCM sealing of single values (DESIGN's key store).

Keys live outside the event store: a 0600 JSON file in the config dir, or the OS keyring.
Destroying a key makes every value sealed under it read ``[shredded]`` for good.

Content that can be deleted on its own (a memory, a conversation: its *owner*) is sealed under
the owner's own data key, kept wrapped (AES-GCM) by the user's key: destroying the owner's key
shreds that one thing; destroying the user's key (forget-me) shreds everything at once.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from luminad.errors import LuminaError
from luminad.settings import Settings

SHREDDED = "[shredded]"
_JSON = msgspec.json.Encoder()
_PREFIX = "enc1:"


def is_sealed(value: Any) -> bool:
    """Whether a stored field value is sealed (not plain text)."""
    return isinstance(value, str) and value.startswith(_PREFIX)


class _Backend(Protocol):
    def load(self) -> dict[str, Any]: ...
    def save(self, blob: dict[str, Any]) -> None: ...


class FileBackend:
    """A JSON file with mode 0600, replaced atomically (write, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        return dict(json.loads(self.path.read_text()))

    def save(self, blob: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(blob))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class KeyringBackend:
    """The OS keyring (macOS Keychain, Secret Service); needs the ``keyring`` package."""

    def __init__(self, account: str) -> None:
        try:
            import keyring
        except ImportError as e:
            raise LuminaError(
                "the keyring key store needs the `keyring` package",
                action="pip install keyring, or set LUMINA_KEY_STORE=file",
            ) from e
        self._keyring: Any = keyring
        self.account = account

    def load(self) -> dict[str, Any]:
        raw = self._keyring.get_password("lumina", self.account)
        return dict(json.loads(raw)) if raw else {}

    def save(self, blob: dict[str, Any]) -> None:
        self._keyring.set_password("lumina", self.account, json.dumps(blob))


class OwnerKeys:
    """The wrapped data keys of memories and conversations: one row each in a SQLite file
    beside the key store (0600), so adding one costs one small commit and destroying one
    overwrites it (``secure_delete``) and empties the WAL that held it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON"):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS owner_keys (owner TEXT PRIMARY KEY, wrap TEXT NOT NULL, "
            "wrapped BLOB NOT NULL)"
        )
        for suffix in ("-wal", "-shm"):
            part = path.with_name(path.name + suffix)
            if part.exists():
                os.chmod(part, 0o600)

    def get(self, owner: str) -> tuple[str, bytes] | None:
        """(id of the user key that wrapped it, the wrapped key)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT wrap, wrapped FROM owner_keys WHERE owner = ?", (owner,)
            ).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def put(self, owner: str, wrap: str, wrapped: bytes) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO owner_keys VALUES (?, ?, ?)", (owner, wrap, wrapped)
            )

    def delete(self, *, owner: str | None = None, wrap: list[str] | None = None) -> int:
        """Destroy one owner's key, or every key wrapped by the user keys ``wrap``."""
        with self._lock:
            if owner is not None:
                cur = self._conn.execute("DELETE FROM owner_keys WHERE owner = ?", (owner,))
            else:
                marks = ",".join("?" * len(wrap or []))
                cur = self._conn.execute(
                    f"DELETE FROM owner_keys WHERE wrap IN ({marks})", list(wrap or [])
                )
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return int(cur.rowcount)

    def close(self) -> None:
        self._conn.close()


class KeyStore:
    """The user's data keys by id (one current), plus the optional whole-store cipher key."""

    def __init__(self, backend: _Backend, owners: OwnerKeys) -> None:
        self._backend = backend
        self._blob = backend.load()
        self._blob.setdefault("keys", {})
        self._owners = owners
        self._aead: dict[str, AESGCM] = {}
        #: owner -> id of the user key that wrapped its key (for the owners in ``_aead``)
        self._wrapped_by: dict[str, str] = {}

    @classmethod
    def open(cls, settings: Settings) -> KeyStore:
        owners = OwnerKeys(settings.config_dir / "owner-keys.sqlite")
        if settings.key_store == "keyring":
            return cls(KeyringBackend(str(settings.config_dir)), owners)
        return cls(FileBackend(settings.keys_path), owners)

    @property
    def owner_keys_path(self) -> Path:
        return self._owners.path

    def close(self) -> None:
        self._owners.close()

    def _reload(self) -> None:
        blob = self._backend.load()
        self._blob["keys"].update(blob.get("keys", {}))
        self._blob["read"] = self._blob.get("read") or blob.get("read")
        if not self._blob.get("current"):
            self._blob["current"] = blob.get("current")

    def key_ids(self) -> list[str]:
        return sorted(self._blob["keys"])

    def current_id(self) -> str:
        """The id of the key new content is sealed with (created on first use)."""
        current = self._blob.get("current")
        if not current:
            self._reload()  # another process on the same store may have made one already
            current = self._blob.get("current")
        if not current:
            current = secrets.token_hex(8)
            self._blob["keys"][current] = base64.b64encode(AESGCM.generate_key(256)).decode()
            self._blob["current"] = current
            self._backend.save(self._blob)
        return str(current)

    def aead(self, key_id: str) -> AESGCM | None:
        """The cipher of ``key_id`` (a user key, or ``user/owner`` for an owner's key), or None
        when that key does not exist (any more)."""
        if "/" in key_id:
            return self._owner_aead(key_id.partition("/")[2], create=False)
        if key_id not in self._aead:
            raw = self._blob["keys"].get(key_id)
            if raw is None:
                self._reload()  # a key made by another process since we loaded
                raw = self._blob["keys"].get(key_id)
            if raw is None:
                return None
            self._aead[key_id] = AESGCM(base64.b64decode(raw))
        return self._aead[key_id]

    def destroy(self, key_ids: list[str]) -> None:
        """Destroy these user keys for good, and every owner key they wrapped. New content gets
        a new key."""
        for key_id in key_ids:
            self._blob["keys"].pop(key_id, None)
            self._aead.pop(key_id, None)
        for cached in [k for k in self._aead if k.startswith("owner:")]:
            del self._aead[cached]
        if self._blob.get("current") not in self._blob["keys"]:
            self._blob["current"] = None
        self._backend.save(self._blob)
        self._owners.delete(wrap=key_ids)

    def destroy_owner(self, owner: UUID) -> bool:
        """Destroy the data key of one memory or conversation; False when it had none."""
        self._aead.pop(f"owner:{owner.hex}", None)
        return self._owners.delete(owner=owner.hex) > 0

    def _owner_aead(self, owner: str, *, create: bool) -> AESGCM | None:
        """The cipher of ``owner``'s own key (unwrapped with the user key), made on first use
        when ``create``; None when it was destroyed (or the user key that wrapped it)."""
        cached = self._aead.get(f"owner:{owner}")
        if cached is not None:
            return cached
        entry = self._owners.get(owner)
        wrapper = self.aead(entry[0]) if entry is not None else None
        if entry is None or wrapper is None:
            if not create:
                return None
            key = AESGCM.generate_key(256)
            wrap = self.current_id()
            nonce = os.urandom(12)
            user_key = self.aead(wrap)
            assert user_key is not None
            wrapped = nonce + user_key.encrypt(nonce, key, owner.encode())
            self._owners.put(owner, wrap, wrapped)  # durable before anything is sealed under it
            entry = (wrap, wrapped)
        else:
            try:
                key = wrapper.decrypt(entry[1][:12], entry[1][12:], owner.encode())
            except InvalidTag:
                return None
        aead = AESGCM(key)
        self._aead[f"owner:{owner}"] = aead
        self._wrapped_by[owner] = entry[0]
        return aead

    def rotate_read_models_key(self, apply: Callable[[bytes], None]) -> None:
        """A new read-models key: ``apply`` re-encrypts the file under it, then it is saved
        (the old one is gone with it)."""
        key = AESGCM.generate_key(256)
        apply(key)
        self._blob["read"] = base64.b64encode(key).decode()
        self._backend.save(self._blob)

    def read_models_key(self) -> bytes:
        """The 256-bit key of the SQLCipher read models (created on first use)."""
        if not self._blob.get("read"):
            self._reload()  # another process may have made it
        if not self._blob.get("read"):
            self._blob["read"] = base64.b64encode(AESGCM.generate_key(256)).decode()
            self._backend.save(self._blob)
        return base64.b64decode(self._blob["read"])

    def store_cipher_key(self) -> str:
        """The base64 key of eventsourcing's whole-event cipher (never destroyed by forget)."""
        if not self._blob.get("store"):
            self._blob["store"] = base64.b64encode(AESGCM.generate_key(256)).decode()
            self._backend.save(self._blob)
        return str(self._blob["store"])

    # ------------------------------------------------------------------ sealing
    def seal(self, field: str, value: Any, owner: UUID | None = None) -> str:
        """``value`` as JSON, AES-GCM sealed (``field`` is the AAD) under ``owner``'s own key,
        or the user's current key when there is no owner."""
        key_id = self._blob.get("current") or self.current_id()
        if owner is not None:
            aead = self._owner_aead(owner.hex, create=True)
            key_id = f"{self._wrapped_by[owner.hex]}/{owner.hex}"
        else:
            aead = self._aead.get(key_id) or self.aead(key_id)
        assert aead is not None
        nonce = os.urandom(12)
        plain = b"s" + value.encode() if isinstance(value, str) else b"j" + _JSON.encode(value)
        ct = aead.encrypt(nonce, plain, field.encode())
        return f"{_PREFIX}{key_id}:{base64.b64encode(nonce + ct).decode()}"

    def unseal(self, field: str, token: Any) -> tuple[Any, bool]:
        """``(value, True)``, or ``(SHREDDED, False)`` when the key is gone or the data bad."""
        if not is_sealed(token):
            return token, True  # stored before encryption existed: plain
        key_id, _, b64 = token[len(_PREFIX) :].partition(":")
        aead = self.aead(key_id)
        if aead is None:
            return SHREDDED, False
        try:
            raw = base64.b64decode(b64)
            plain = aead.decrypt(raw[:12], raw[12:], field.encode())
            return plain[1:].decode() if plain[:1] == b"s" else json.loads(plain[1:]), True
        except (InvalidTag, ValueError):
            return SHREDDED, False
