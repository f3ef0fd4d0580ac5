"""Profile read model: the preferred name and preferences."""

from __future__ import annotations

import sqlite3
from typing import ClassVar

from luminad import protocol
from luminad.domain import Profile
from luminad.projections.base import Fact, Projection


class ProfileView(Projection):
    name = "profile"
    handles = frozenset({Profile.PreferredNameSet, Profile.PreferenceSet})
    user_tables: ClassVar[tuple[str, ...]] = ("profile",)

    def apply(self, conn: sqlite3.Connection, fact: Fact) -> None:
        if fact.event is Profile.PreferredNameSet:
            key, value = "name", fact.data["name"]
        else:
            key, value = f"pref:{fact.data['key']}", fact.data["value"]
        conn.execute(
            "INSERT OR REPLACE INTO profile VALUES (?, ?, ?)", (key, str(value), fact.position)
        )


def get(conn: sqlite3.Connection) -> protocol.Profile:
    name: str | None = None
    prefs: dict[str, str] = {}
    for key, value in conn.execute("SELECT key, value FROM profile ORDER BY key"):
        if key == "name":
            name = value
        else:
            prefs[key.removeprefix("pref:")] = value
    return protocol.Profile(preferred_name=name, preferences=prefs)
