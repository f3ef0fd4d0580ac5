"""Privacy: per-user data keys, field-level encryption of events, forget-me and its audit.

User content inside events (the fields :data:`luminad.domain.USER_CONTENT` names) is sealed
with AES-GCM under the user's current data key before it reaches the event store; ids, types,
timestamps and sizes stay readable. Keys live in a key store outside the event store (a 0600
JSON file in the config dir, or the OS keyring). Forgetting the user destroys every data key:
the events stay, in order, but their content reads ``[shredded]`` from then on.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    ApplicationRecorder,
    Cipher,
    Compressor,
    Mapper,
    Notification,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import get_topic, resolve_topic

from luminad import domain, protocol
from luminad.domain import USER_CONTENT
from luminad.errors import LuminaError
from luminad.settings import Settings
from luminad.sqlite import compact, sqlite_module

if TYPE_CHECKING:
    from luminad.app import Lumina

SHREDDED = "[shredded]"
_JSON = msgspec.json.Encoder()
_PREFIX = "enc1:"


# ---------------------------------------------------------------------------- key store
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


class KeyStore:
    """The user's data keys by id (one current), plus the optional whole-store cipher key."""

    def __init__(self, backend: _Backend) -> None:
        self._backend = backend
        self._blob = backend.load()
        self._blob.setdefault("keys", {})
        self._aead: dict[str, AESGCM] = {}

    @classmethod
    def open(cls, settings: Settings) -> KeyStore:
        if settings.key_store == "keyring":
            return cls(KeyringBackend(str(settings.config_dir)))
        return cls(FileBackend(settings.keys_path))

    def _reload(self) -> None:
        blob = self._backend.load()
        self._blob["keys"].update(blob.get("keys", {}))
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
        """The cipher of ``key_id``, or None when that key does not exist (any more)."""
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
        """Destroy these data keys for good. New content gets a new key."""
        for key_id in key_ids:
            self._blob["keys"].pop(key_id, None)
            self._aead.pop(key_id, None)
        if self._blob.get("current") not in self._blob["keys"]:
            self._blob["current"] = None
        self._backend.save(self._blob)

    def store_cipher_key(self) -> str:
        """The base64 key of eventsourcing's whole-event cipher (never destroyed by forget)."""
        if not self._blob.get("store"):
            self._blob["store"] = base64.b64encode(AESGCM.generate_key(256)).decode()
            self._backend.save(self._blob)
        return str(self._blob["store"])

    # ------------------------------------------------------------------ sealing
    def seal(self, field: str, value: Any) -> str:
        """``value`` as JSON, AES-GCM sealed under the current key (``field`` is the AAD)."""
        key_id = self._blob.get("current") or self.current_id()
        aead = self._aead.get(key_id) or self.aead(key_id)
        assert aead is not None
        nonce = os.urandom(12)
        plain = b"s" + value.encode() if isinstance(value, str) else b"j" + _JSON.encode(value)
        ct = aead.encrypt(nonce, plain, field.encode())
        return f"{_PREFIX}{key_id}:{base64.b64encode(nonce + ct).decode()}"

    def unseal(self, field: str, token: Any) -> tuple[Any, bool]:
        """``(value, True)``, or ``(SHREDDED, False)`` when the key is gone or the data bad."""
        if not isinstance(token, str) or not token.startswith(_PREFIX):
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


# ---------------------------------------------------------------------------- mapper
class PrivateMapper(Mapper[UUID]):
    """eventsourcing's Mapper, sealing user-content fields on the way in, opening them on the
    way out (``[shredded]`` when their key is gone)."""

    def __init__(
        self,
        transcoder: Transcoder,
        keys: KeyStore,
        *,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        super().__init__(transcoder, compressor=compressor, cipher=cipher)
        self.keys = keys

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = dict(vars(domain_event))
        for name in USER_CONTENT.get(type(domain_event).__name__, ()):
            state[name] = self.keys.seal(name, state[name])
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        try:
            stored = _JSON.encode({key: _plain(value) for key, value in state.items()})
        except TypeError:
            stored = self.transcoder.encode(state)
        if self.compressor:
            stored = self.compressor.compress(stored)
        if self.cipher:
            stored = self.cipher.encrypt(stored)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=stored,
        )

    def decode_state(self, stored: StoredEvent) -> tuple[dict[str, Any], bool]:
        """The event's fields with user content opened, and whether all of it could be."""
        raw = stored.state
        if self.cipher:
            raw = self.cipher.decrypt(raw)
        if self.compressor:
            raw = self.compressor.decompress(raw)
        state: dict[str, Any] = self.transcoder.decode(raw)
        readable = True
        for name in USER_CONTENT.get(event_type(stored.topic), ()):
            if name in state:
                state[name], ok = self.keys.unseal(name, state[name])
                readable = readable and ok
        return state, readable

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cls = resolve_topic(stored_event.topic)
        state, _ = self.decode_state(stored_event)
        state["originator_id"] = UUID(str(stored_event.originator_id))
        state["originator_version"] = stored_event.originator_version
        from_version = state.pop("class_version", 1)
        while from_version < getattr(cls, "class_version", 1):
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    """``value`` in eventsourcing's JSON transcoding, for the flat types events carry (a fast
    path: msgspec instead of ``json``); raises TypeError for anything else."""
    kind = type(value)
    if kind is str or kind is UUID:
        return value if kind is str else {"_type_": "uuid_hex", "_data_": value.hex}
    if value is None or kind is int or kind is float or kind is bool:
        return value
    if kind is datetime:
        return {"_type_": "datetime_iso", "_data_": value.isoformat()}
    if kind is list and all(type(v) is str for v in value):
        return value
    if kind is dict and all(type(v) in (str, int, float) for v in value.values()):
        return value
    raise TypeError(kind.__name__)


def event_type(topic: str) -> str:
    """``luminad.domain.memory:Memory.MemoryRemembered`` -> ``MemoryRemembered``."""
    return topic.rpartition(":")[2].rpartition(".")[2]


def content_topics() -> list[str]:
    """Topics of every event type that carries user content."""
    aggregates = (domain.Conversation, domain.Memory, domain.Avatar, domain.Profile)
    return [
        get_topic(getattr(agg, name))
        for agg in aggregates
        for name in USER_CONTENT
        if hasattr(agg, name)
    ]


def iter_notifications(
    recorder: ApplicationRecorder,
    *,
    topics: list[str] | None = None,
    after: int = 0,
    stop: int | None = None,
    page: int = 5000,
) -> Iterator[Notification]:
    """Notifications in log order (optionally of some topics, after/up to a position)."""
    start = after
    while True:
        batch = recorder.select_notifications(
            start, page, stop=stop, topics=topics or (), inclusive_of_start=False
        )
        yield from batch
        if len(batch) < page:
            return
        start = batch[-1].id


# ---------------------------------------------------------------------------- forget me
def forget_user(app: Lumina) -> protocol.ForgetReceipt:
    """Record UserForgotten, destroy every data key, purge every read model and compact the
    SQLite files so no plaintext survives on disk; answer a receipt."""
    started = time.perf_counter()
    app.catch_up()
    rows_before = app.read.user_rows()
    previous, _ = last_forgetting(app)  # content before it is shredded already
    shredded = sum(
        1 for _ in iter_notifications(app.recorder, topics=content_topics(), after=previous)
    )
    key_ids = app.keys.key_ids()
    user = app.user()
    user.forget(key_ids, shredded)
    builtin = app.builtin_avatar()
    builtin.reset_to_defaults()
    app.log.save(builtin, user)
    _destroy_and_compact(app, key_ids)
    return protocol.ForgetReceipt(
        ok=True,
        forgotten_at=user.modified_on.isoformat(),
        events_shredded=shredded,
        rows_purged=rows_before - app.read.user_rows(),
        key_id=",".join(key_ids),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def _destroy_and_compact(app: Lumina, key_ids: list[str]) -> None:
    app.keys.destroy(key_ids)
    app.forget_cached_aggregates()  # they hold decrypted values
    app.catch_up()
    app.read.compact()
    if app.settings.store_env()["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        conn = sqlite_module().connect(
            str(app.settings.events_db_path), isolation_level=None, timeout=10
        )
        try:
            compact(conn)
        finally:
            conn.close()


def last_forgetting(app: Lumina) -> tuple[int, list[str]]:
    """Log position and key ids of the latest UserForgotten (0, [] when never forgotten)."""
    topic = get_topic(domain.User.UserForgotten)  # type: ignore[attr-defined]
    last = None
    for note in iter_notifications(app.recorder, topics=[topic]):
        last = note
    if last is None:
        return 0, []
    state, _ = app.private_mapper.decode_state(last)
    return last.id, list(state["key_ids"])


def finish_forgetting(app: Lumina) -> None:
    """After a crash between recording UserForgotten and destroying the keys, finish the job."""
    _, key_ids = last_forgetting(app)
    alive = [k for k in key_ids if app.keys.aead(k) is not None]
    if alive:
        _destroy_and_compact(app, alive)


def audit(app: Lumina, canaries: Sequence[str] = ()) -> protocol.Audit:
    """Re-check a forgetting: key gone, no content decrypts, read models hold nothing of the
    user, and no canary string is in the raw bytes of any file in the data dir."""
    position, key_ids = last_forgetting(app)
    checks = [
        protocol.AuditCheck(
            name="user_forgotten",
            ok=position > 0,
            detail=f"forgotten at log position {position}"
            if position
            else "the user has not asked to be forgotten",
        )
    ]
    alive = [k for k in key_ids if app.keys.aead(k) is not None]
    checks.append(
        protocol.AuditCheck(
            name="keys_destroyed",
            ok=not alive,
            detail=f"{len(key_ids)} key(s) destroyed, {len(alive)} still in the key store",
        )
    )
    total = readable = 0
    if position:
        for note in iter_notifications(app.recorder, topics=content_topics(), stop=position):
            total += 1
            try:
                readable += app.private_mapper.decode_state(note)[1]
            except Exception:  # undecodable data is unreadable too
                continue
    checks.append(
        protocol.AuditCheck(
            name="events_unreadable",
            ok=readable == 0,
            detail=f"{total} events with user content before the forgetting, {readable} decrypt",
        )
    )
    rows = app.read.user_rows(before=position) if position else 0
    orphans = app.read.orphan_vectors()
    checks.append(
        protocol.AuditCheck(
            name="read_models_purged",
            ok=rows == 0 and orphans == 0,
            detail=f"{rows} rows from before the forgetting, {orphans} orphan vectors",
        )
    )
    files, hits = scan_files(app.settings.data_dir, canaries)
    checks.append(
        protocol.AuditCheck(
            name="canary_scan",
            ok=not hits,
            detail=f"{len(canaries)} canaries, {files} files scanned, "
            + (f"hits in {sorted(hits)}" if hits else "0 hits"),
        )
    )
    return protocol.Audit(ok=all(c.ok for c in checks), checks=checks)


def scan_files(root: Path, canaries: Sequence[str]) -> tuple[int, dict[str, int]]:
    """Raw-byte search of every file under ``root``: (files scanned, hits per file name)."""
    needles = [c.encode() for c in canaries if c]
    overlap = max((len(n) for n in needles), default=1) - 1
    files, hits = 0, {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        files += 1
        count, tail = 0, b""
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                window = tail + chunk
                count += sum(window.count(n) for n in needles)
                tail = window[-overlap:] if overlap else b""
        if count:
            hits[path.name] = count
    return files, hits
