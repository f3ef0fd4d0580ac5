"""The domain: aggregates and their events, no I/O.

Each event class declares which of its fields hold the user's own content by annotating them
``Encrypted[...]`` (:mod:`luminad.domain.content`); :mod:`luminad.mapper` seals exactly those.
"""

from __future__ import annotations

from luminad.domain.avatar import BUILTIN_AVATAR_ID, Avatar
from luminad.domain.content import Encrypted
from luminad.domain.conversation import Conversation
from luminad.domain.egress import Egress
from luminad.domain.memory import Memory
from luminad.domain.profile import PROFILE_ID, USER_ID, Profile, User
from luminad.domain.timer import Timer

__all__ = [
    "BUILTIN_AVATAR_ID",
    "PROFILE_ID",
    "USER_ID",
    "Avatar",
    "Conversation",
    "Egress",
    "Encrypted",
    "Memory",
    "Profile",
    "Timer",
    "User",
]
