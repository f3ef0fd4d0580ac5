"""Profile: how the user wants to be addressed and their preferences; and the user forgotten."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from luminad.domain.content import Encrypted
from luminad.domain.errors import require_text

_NS = UUID("0b8f9a57-52c4-4a57-8f7e-0c1b1f0d7a11")
PROFILE_ID = uuid5(_NS, "profile")
USER_ID = uuid5(_NS, "user")
MAX_KEY = 64
MAX_VALUE = 1_000


class Profile(Aggregate):
    """The single user's profile."""

    class ProfileCreated(Aggregate.Created):
        pass

    class PreferredNameSet(Aggregate.Event):
        name: Encrypted[str]

    class PreferenceSet(Aggregate.Event):
        key: Encrypted[str]
        value: Encrypted[str]

    @staticmethod
    def create_id() -> UUID:
        return PROFILE_ID

    @event(ProfileCreated)
    def __init__(self) -> None:
        self.preferred_name: str | None = None
        self.preferences: dict[str, str] = {}

    def set_preferred_name(self, name: str) -> None:
        name = require_text(name, "preferred name", limit=MAX_KEY)
        if name != self.preferred_name:
            self._preferred_name_set(name)

    def set_preference(self, key: str, value: str) -> None:
        key = require_text(key, "preference key", limit=MAX_KEY)
        value = value.strip()[:MAX_VALUE]
        if self.preferences.get(key) != value:
            self._preference_set(key, value)

    @event(PreferredNameSet)
    def _preferred_name_set(self, name: str) -> None:
        self.preferred_name = name

    @event(PreferenceSet)
    def _preference_set(self, key: str, value: str) -> None:
        self.preferences[key] = value


class User(Aggregate):
    """The one user of this daemon, who can ask to be forgotten (any number of times)."""

    class UserCreated(Aggregate.Created):
        pass

    class UserForgotten(Aggregate.Event):
        #: Ids of the destroyed data keys (random, not the user's).
        key_ids: list[str]
        events_shredded: int
        #: Random salt (hex) of ``fingerprints``.
        fingerprint_salt: str
        #: Salted hashes (hex) of word 4-grams of the shredded content: the audit scans the
        #: files for them later without keeping the content itself.
        fingerprints: list[str]

    @staticmethod
    def create_id() -> UUID:
        return USER_ID

    @event(UserCreated)
    def __init__(self) -> None:
        self.times_forgotten = 0

    def forget(
        self,
        key_ids: list[str],
        events_shredded: int,
        fingerprint_salt: str = "",
        fingerprints: list[str] | None = None,
    ) -> None:
        """The user's data keys were destroyed: every event they encrypted is now unreadable."""
        self._forgotten(
            sorted(key_ids), int(events_shredded), fingerprint_salt, list(fingerprints or [])
        )

    @event(UserForgotten)
    def _forgotten(
        self,
        key_ids: list[str],
        events_shredded: int,
        fingerprint_salt: str = "",  # defaults: forgettings recorded before fingerprints
        fingerprints: list[str] | None = None,
    ) -> None:
        self.times_forgotten += 1
