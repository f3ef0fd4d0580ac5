"""The application service: ``Lumina``, the only writer of events; its queries are
:attr:`Lumina.queries` (:mod:`luminad.queries`).

Commands load an aggregate, call it, ``save()`` it, then catch the projections up, so a query
right after a command sees it (read-your-writes). All methods are synchronous and thread-safe
(one lock); async code calls them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

import msgspec
from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder

from luminad import protocol
from luminad.audit import Auditor
from luminad.domain import (
    BUILTIN_AVATAR_ID,
    PROFILE_ID,
    USER_ID,
    Avatar,
    Conversation,
    Egress,
    Memory,
    Profile,
    Timer,
    User,
)
from luminad.errors import (
    AvatarNotFound,
    ConversationNotFound,
    MemoryNotFound,
    NotFound,
    SecretNotStored,
    StorageFull,
    TimerNotFound,
)
from luminad.fingerprint import fingerprint
from luminad.forget import Shredder
from luminad.keystore import KeyStore
from luminad.mapper import PrivateMapper
from luminad.projections import avatars, conversations, memories, timers
from luminad.projections.runner import ReadModels
from luminad.providers.base import Embedder
from luminad.queries import Queries
from luminad.redact import is_secret, redact
from luminad.settings import Settings
from luminad.store import EventLog, ensure_postgres_schema

A = TypeVar("A", bound=Aggregate)


class Lumina:
    """Lumina's event-sourced application: commands write events, queries read projections.

    The eventsourcing ``Application`` is :attr:`log` (:class:`luminad.store.EventLog`); Lumina
    is the only code that calls its ``save()``.
    """

    def __init__(self, settings: Settings, embedder: Embedder, keys: KeyStore) -> None:
        self.settings = settings
        self.keys = keys
        self.embedder = embedder
        self.log = EventLog.from_settings(settings, keys)
        self.lock = threading.RLock()
        self._loaded: list[UUID] = []
        self.read = ReadModels(settings.read_db_path, embedder, keys.read_models_key())
        self.default_avatar_id: UUID = BUILTIN_AVATAR_ID
        self.shredder = Shredder(
            self.recorder,
            self.private_mapper,
            keys,
            self.read,
            None if settings.uses_postgres else settings.events_db_path,
        )
        auditor = Auditor(
            self.shredder,
            settings.data_dir,
            [
                *([settings.keys_path] if settings.key_store == "file" else []),
                keys.owner_keys_path,
            ],
            [settings.data_dir, settings.config_dir, settings.runtime_dir],
        )
        self.queries = Queries(
            settings, self.log, self.private_mapper, self.read, embedder, auditor, self.lock
        )

    @property
    def recorder(self) -> ApplicationRecorder:
        return self.log.recorder

    @property
    def repository(self) -> Repository[UUID]:
        return self.log.repository

    @property
    def private_mapper(self) -> PrivateMapper:
        assert isinstance(self.log.mapper, PrivateMapper)
        return self.log.mapper

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """The lock, and on failure the eviction of every aggregate the command loaded (a
        cached aggregate must never keep events that were not saved). A full disk becomes
        :class:`StorageFull` (the store's transaction was rolled back: nothing half-written)."""
        with self.lock:
            self._loaded.clear()
            try:
                yield
            except BaseException as exc:
                cache = self.repository.cache
                for aggregate_id in self._loaded:
                    with suppress(KeyError, AttributeError):
                        cache.get(aggregate_id, evict=True)  # type: ignore[union-attr]
                if _disk_full(exc):
                    raise StorageFull("The disk is full: this could not be stored.") from exc
                raise

    def forget_cached_aggregates(self) -> None:
        """Evict every cached aggregate (after a forgetting: they hold decrypted values)."""
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id in list(cache.cache):
                with suppress(KeyError):
                    cache.get(aggregate_id, evict=True)

    def catch_up(self) -> int:
        """Bring every read model up to the end of the log."""
        with self.lock:
            return self.read.catch_up(self.recorder, self.private_mapper)

    def rebuild_projections(self) -> int:
        """Drop every read model and replay the whole log into it; returns events read."""
        with self.lock:
            self.read.drop_all()
            return self.catch_up()

    def _commit(self, *aggregates: Aggregate) -> None:
        """Append the aggregates' pending events atomically (the only path to the store)."""
        self.log.save(*aggregates)
        self.read.catch_up(self.recorder, self.private_mapper)

    def _load(self, cls: type[A], aggregate_id: UUID, error: NotFound) -> A:
        self._loaded.append(aggregate_id)
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise error from None
        if not isinstance(aggregate, cls):
            raise error
        return aggregate

    def _get_or_create(self, cls: type[A], aggregate_id: UUID) -> A:
        self._loaded.append(aggregate_id)
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return cls()
        assert isinstance(aggregate, cls)
        return aggregate

    def _conversation(self, conversation_id: UUID) -> Conversation:
        error = ConversationNotFound(f"no conversation {conversation_id}")
        if not conversations.exists(self.read.conn, str(conversation_id)):
            raise error
        return self._load(Conversation, conversation_id, error)

    def _avatar(self, avatar_id: UUID) -> Avatar:
        error = AvatarNotFound(f"no avatar {avatar_id}")
        if avatars.get(self.read.conn, str(avatar_id)) is None:
            raise error
        return self._load(Avatar, avatar_id, error)

    def ensure_builtin_avatar(self) -> None:
        with self._writing():
            try:
                self.repository.get(BUILTIN_AVATAR_ID)
            except AggregateNotFoundError:
                self._commit(Avatar.create_builtin())

    # ------------------------------------------------------------------ conversation commands
    def start_conversation(self, avatar_id: UUID | None = None) -> UUID:
        with self._writing():
            avatar = self._avatar(avatar_id or self.default_avatar_id)
            conversation = Conversation(avatar.id)
            self._commit(conversation)
            return conversation.id

    def record_utterance(
        self,
        conversation_id: UUID,
        text: str,
        *,
        turn_id: UUID | None = None,
        source: str = "voice",
    ) -> UUID:
        """Store what the user said, with any secret in it redacted (the do-not-store filter:
        "my PIN is 4921" is kept as "my PIN is [redacted: PIN]")."""
        with self._writing():
            conversation = self._conversation(conversation_id)
            turn_id = turn_id or uuid4()
            conversation.transcribe(turn_id, redact(text).text, source)
            self._commit(conversation)
            return turn_id

    def complete_reply(
        self,
        conversation_id: UUID,
        turn_id: UUID,
        text: str,
        *,
        sources: Sequence[protocol.Source] = (),
        provider: str = "",
        record: protocol.ReplyRecord | None = None,
    ) -> None:
        """Store the reply, and with it (same commit) what made it, for replay."""
        with self._writing():
            conversation = self._conversation(conversation_id)
            conversation.complete_reply(
                turn_id,
                text,
                [{"title": s.title, "url": s.url} for s in sources],
                provider,
                self._reply_record(record),
            )
            self._commit(conversation)

    def interrupt_reply(
        self,
        conversation_id: UUID,
        turn_id: UUID,
        heard_text: str,
        *,
        reason: str = "user",
        record: protocol.ReplyRecord | None = None,
    ) -> None:
        with self._writing():
            conversation = self._conversation(conversation_id)
            conversation.interrupt_reply(turn_id, heard_text, reason, self._reply_record(record))
            self._commit(conversation)

    def _reply_record(self, record: protocol.ReplyRecord | None) -> dict[str, Any] | None:
        """The record as stored, with the version of the avatar that spoke."""
        if record is None:
            return None
        if record.avatar_id is not None and record.avatar_version is None:
            with suppress(AggregateNotFoundError, ValueError):
                version: int = self.repository.get(UUID(record.avatar_id)).version
                record = msgspec.structs.replace(record, avatar_version=version)
        stored: dict[str, Any] = msgspec.to_builtins(record)
        return stored

    def time_turn(
        self,
        conversation_id: UUID,
        turn_id: UUID,
        timings_ms: Mapping[str, float],
        *,
        outcome: str = "completed",
    ) -> None:
        with self._writing():
            conversation = self._conversation(conversation_id)
            conversation.time_turn(turn_id, timings_ms, outcome)
            self._commit(conversation)

    def call_tool(
        self,
        conversation_id: UUID,
        turn_id: UUID,
        name: str,
        arguments: Mapping[str, Any],
        result: str,
        *,
        ok: bool = True,
    ) -> None:
        """Record that a tool ran in the turn and what it answered."""
        with self._writing():
            conversation = self._conversation(conversation_id)
            conversation.call_tool(turn_id, name, arguments, result, ok)
            self._commit(conversation)

    # ------------------------------------------------------------------ timer commands
    def set_timer(
        self,
        seconds: int,
        label: str = "",
        *,
        conversation_id: UUID | None = None,
        now: datetime | None = None,
    ) -> protocol.Timer:
        """Start a timer of ``seconds``; answers it as the read model lists it."""
        with self._writing():
            timer = Timer.start(seconds, label, now or datetime.now(UTC), conversation_id)
            self._commit(timer)
            return self.queries.get_timer(timer.id)

    def fire_timer(self, timer_id: UUID) -> protocol.Timer:
        return self._end_timer(timer_id, fired=True)

    def cancel_timer(self, timer_id: UUID) -> protocol.Timer:
        return self._end_timer(timer_id, fired=False)

    def _end_timer(self, timer_id: UUID, *, fired: bool) -> protocol.Timer:
        with self._writing():
            error = TimerNotFound(f"no running timer {timer_id}")
            found = timers.get(self.read.conn, str(timer_id))
            if found is None or found.state != "set":
                raise error
            timer = self._load(Timer, timer_id, error)
            if fired:
                timer.fire()
            else:
                timer.cancel()
            self._commit(timer)
            return self.queries.get_timer(timer_id)

    # ------------------------------------------------------------------ memory commands
    def remember(
        self,
        text: str,
        *,
        avatar_id: UUID | None = None,
        conversation_id: UUID | None = None,
        turn_id: UUID | None = None,
    ) -> UUID:
        """A new memory; refused (:class:`SecretNotStored`) when it holds a secret."""
        if is_secret(text):
            raise SecretNotStored("That looks like a secret, so it was not remembered.")
        with self._writing():
            if avatar_id is not None:
                self._avatar(avatar_id)
            if conversation_id is not None:
                self._conversation(conversation_id)
            memory = Memory.remember(text, avatar_id, conversation_id, turn_id)
            self._commit(memory)
            return memory.id

    def forget_memory(self, memory_id: UUID) -> protocol.DeletionReceipt:
        """Delete a memory and destroy its data key: its text reads ``[shredded]`` in the log."""
        with self._writing():
            started = time.perf_counter()
            error = MemoryNotFound(f"no memory {memory_id}")
            if not memories.exists(self.read.conn, str(memory_id)):
                raise error
            memory = self._load(Memory, memory_id, error)
            memory.forget()
            self._commit(memory)
            return self._shred_owner("memory", memory, started)

    def delete_conversation(self, conversation_id: UUID) -> protocol.DeletionReceipt:
        """Delete a conversation and destroy its data key: every utterance and reply of it
        reads ``[shredded]`` in the log (memories made from it stay, under their own keys)."""
        with self._writing():
            started = time.perf_counter()
            conversation = self._conversation(conversation_id)
            conversation.delete()
            self._commit(conversation)
            return self._shred_owner("conversation", conversation, started)

    def _shred_owner(
        self, kind: str, aggregate: Aggregate, started: float
    ) -> protocol.DeletionReceipt:
        destroyed = self.keys.destroy_owner(aggregate.id)
        self.forget_cached_aggregates()
        return protocol.DeletionReceipt(
            ok=True,
            deleted=kind,
            id=str(aggregate.id),
            deleted_at=aggregate.modified_on.isoformat(),
            events_shredded=self.shredder.owner_content_events(aggregate.id) if destroyed else 0,
            key_destroyed=destroyed,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    # ------------------------------------------------------------------ avatar commands
    def create_avatar(
        self, name: str, persona: str = "", style: str = "", voice: str = "joe"
    ) -> UUID:
        with self._writing():
            avatar = Avatar.create(name, persona, style, voice)
            self._commit(avatar)
            return avatar.id

    def update_avatar(
        self,
        avatar_id: UUID,
        *,
        name: str | None = None,
        persona: str | None = None,
        style: str | None = None,
        voice: str | None = None,
    ) -> None:
        with self._writing():
            avatar = self._avatar(avatar_id)
            if name is not None:
                avatar.rename(name)
            if persona is not None:
                avatar.change_persona(persona)
            if style is not None:
                avatar.change_style(style)
            if voice is not None:
                avatar.change_voice(voice)
            self._commit(avatar)

    def delete_avatar(self, avatar_id: UUID) -> None:
        with self._writing():
            avatar = self._avatar(avatar_id)
            avatar.delete()
            self._commit(avatar)

    # ------------------------------------------------------------------ profile commands
    def set_preferred_name(self, name: str) -> None:
        with self._writing():
            user_profile = self._get_or_create(Profile, PROFILE_ID)
            user_profile.set_preferred_name(name)
            self._commit(user_profile)

    def set_preference(self, key: str, value: str) -> None:
        with self._writing():
            user_profile = self._get_or_create(Profile, PROFILE_ID)
            user_profile.set_preference(key, value)
            self._commit(user_profile)

    # ------------------------------------------------------------------ egress
    def record_egress(self, kind: str, host: str, query: str) -> UUID:
        """Record a request about to leave the machine (call it before sending)."""
        with self._writing():
            egress = Egress.request(kind, host, query)
            self._commit(egress)
            return egress.id

    def forget_user(self) -> protocol.ForgetReceipt:
        """Record UserForgotten, destroy every data key, purge every read model and compact
        the SQLite files so no plaintext survives on disk; answer a receipt."""
        with self._writing():
            started = time.perf_counter()
            self.catch_up()
            rows_before = self.read.user_rows()
            previous, _ = self.shredder.last_forgetting()  # before it: shredded already
            shredded, texts = self.shredder.content(after=previous)
            salt, fingerprints = fingerprint(texts)
            key_ids = self.keys.key_ids()
            user = self.user()
            user.forget(key_ids, shredded, salt, fingerprints)
            builtin = self.builtin_avatar()
            builtin.reset_to_defaults()
            self.log.save(builtin, user)
            self._shred(key_ids)
            return protocol.ForgetReceipt(
                ok=True,
                forgotten_at=user.modified_on.isoformat(),
                events_shredded=shredded,
                rows_purged=rows_before - self.read.user_rows(),
                key_id=",".join(key_ids),
                fingerprints=len(fingerprints),
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )

    def _shred(self, key_ids: list[str]) -> None:
        """Destroy the keys, drop every cached aggregate (they hold decrypted values), bring
        the read models up to the forgetting and compact the files."""
        self.shredder.destroy(key_ids)
        self.forget_cached_aggregates()
        self.read.catch_up(self.recorder, self.private_mapper)
        self.shredder.compact()

    def finish_forgetting(self) -> None:
        """After a crash between recording UserForgotten and destroying the keys, finish."""
        with self.lock:
            _, forgotten = self.shredder.last_forgetting()
            alive = self.shredder.alive(list(forgotten.get("key_ids", [])))
            if alive:
                self._shred(alive)

    def user(self) -> User:
        """The User aggregate (created on first use)."""
        return self._get_or_create(User, USER_ID)

    def builtin_avatar(self) -> Avatar:
        return self._load(Avatar, BUILTIN_AVATAR_ID, AvatarNotFound("no built-in avatar"))

    def close(self) -> None:
        with self.lock:
            self.read.close()
            self.log.close()
            self.keys.close()


#: How a full disk shows itself: SQLite's message (also inside eventsourcing's wrappers),
#: PostgreSQL's SQLSTATE 53100 (disk_full), the OS's ENOSPC/EDQUOT.
_DISK_FULL_MESSAGES = ("database or disk is full", "no space left on device", "disk full")


def _disk_full(exc: BaseException) -> bool:
    """True when ``exc`` or anything in its cause chain says the disk is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if getattr(current, "sqlstate", None) == "53100":
            return True
        if any(m in str(current).lower() for m in _DISK_FULL_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


def open_lumina(settings: Settings, embedder: Embedder) -> Lumina:
    """Make dirs and the key store, open the event store and read models, catch up, and make
    sure the built-in avatar exists."""
    settings.ensure_dirs()
    keys = KeyStore.open(settings)
    if settings.uses_postgres:
        ensure_postgres_schema(settings)
    app = Lumina(settings, embedder, keys)
    try:
        if app.read.position() > (app.recorder.max_notification_id() or 0):
            app.rebuild_projections()  # read models of another (or a reset) event store
        app.finish_forgetting()
        app.catch_up()
        app.ensure_builtin_avatar()
    except BaseException:
        app.close()
        raise
    return app
