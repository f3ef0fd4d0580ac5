"""The domain: aggregates and their events, no I/O.

:data:`USER_CONTENT` names, per event type, the fields that hold the user's own content;
:mod:`luminad.privacy` encrypts exactly those with the user's data key.
"""

from __future__ import annotations

from luminad.domain.avatar import BUILTIN_AVATAR_ID, Avatar
from luminad.domain.conversation import Conversation
from luminad.domain.memory import Memory
from luminad.domain.profile import PROFILE_ID, USER_ID, Profile, User
from luminad.domain.timer import Timer

USER_CONTENT: dict[str, tuple[str, ...]] = {
    "UtteranceTranscribed": ("text",),
    "ReplyCompleted": ("text", "sources"),
    "ReplyInterrupted": ("heard_text",),
    "ReplyRecorded": ("record",),
    "MemoryRemembered": ("text",),
    "AvatarCreated": ("name", "persona", "style"),
    "AvatarRenamed": ("name",),
    "AvatarPersonaChanged": ("persona",),
    "AvatarStyleChanged": ("style",),
    "PreferredNameSet": ("name",),
    "PreferenceSet": ("key", "value"),
    "ToolCalled": ("arguments", "result"),
    "TimerSet": ("label",),
}

__all__ = [
    "BUILTIN_AVATAR_ID",
    "PROFILE_ID",
    "USER_CONTENT",
    "USER_ID",
    "Avatar",
    "Conversation",
    "Memory",
    "Profile",
    "Timer",
    "User",
]
