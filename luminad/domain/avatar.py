"""Avatar: a named assistant persona with its own style rules and voice."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from luminad.domain.content import Encrypted
from luminad.domain.errors import AlreadyGone, BuiltinAvatarProtected, require_text

MAX_NAME = 64
MAX_PROMPT = 4_000
BUILTIN_AVATAR_ID = uuid5(UUID("6f1f3c1e-3c2a-4e53-9d0e-8f6a1d2b7c40"), "avatar:lumina")
BUILTIN_DEFAULTS = {
    "name": "Lumina",
    # one persona, one style rule, short: small models repeat themselves under long prompts
    "persona": "You are Lumina, a friendly voice assistant.",
    "style": "Answer in one or two short spoken sentences, in plain English, "
    "with no lists or markdown.",
    "voice": "joe",
}


class Avatar(Aggregate):
    """An avatar. The built-in one ("Lumina") cannot be deleted."""

    class BuiltinAvatarCreated(Aggregate.Created):
        name: str
        persona: str
        style: str
        voice: str
        builtin: bool

    class AvatarCreated(Aggregate.Created):
        name: Encrypted[str]
        persona: Encrypted[str]
        style: Encrypted[str]
        voice: Encrypted[str]
        builtin: bool

    class AvatarRenamed(Aggregate.Event):
        name: Encrypted[str]

    class AvatarPersonaChanged(Aggregate.Event):
        persona: Encrypted[str]

    class AvatarStyleChanged(Aggregate.Event):
        style: Encrypted[str]

    class AvatarVoiceChanged(Aggregate.Event):
        voice: Encrypted[str]

    class AvatarDeleted(Aggregate.Event):
        pass

    class AvatarReset(Aggregate.Event):
        """Back to the built-in defaults (constants, not the user's)."""

        name: str
        persona: str
        style: str

    @event(AvatarCreated)
    def __init__(
        self, name: str, persona: str, style: str, voice: str, builtin: bool = False
    ) -> None:
        self.name = name
        self.persona = persona
        self.style = style
        self.voice = voice
        self.builtin = builtin
        self.deleted = False

    @classmethod
    def create(cls, name: str, persona: str = "", style: str = "", voice: str = "joe") -> Avatar:
        """A user-made avatar."""
        return cls(
            require_text(name, "avatar name", limit=MAX_NAME),
            _prompt(persona, "persona"),
            _prompt(style, "style"),
            require_text(voice, "voice", limit=MAX_PROMPT),
        )

    @classmethod
    def create_builtin(cls) -> Avatar:
        """The built-in avatar, with a fixed id and content that is not the user's."""
        return cls._create(
            cls.BuiltinAvatarCreated, id=BUILTIN_AVATAR_ID, builtin=True, **BUILTIN_DEFAULTS
        )

    # ------------------------------------------------------------------ commands
    def rename(self, name: str) -> None:
        self.check_not_deleted()
        name = require_text(name, "avatar name", limit=MAX_NAME)
        if name != self.name:
            self._renamed(name)

    def change_persona(self, persona: str) -> None:
        self.check_not_deleted()
        persona = _prompt(persona, "persona")
        if persona != self.persona:
            self._persona_changed(persona)

    def change_style(self, style: str) -> None:
        self.check_not_deleted()
        style = _prompt(style, "style")
        if style != self.style:
            self._style_changed(style)

    def change_voice(self, voice: str) -> None:
        self.check_not_deleted()
        voice = require_text(voice, "voice", limit=MAX_PROMPT)
        if voice != self.voice:
            self._voice_changed(voice)

    def delete(self) -> None:
        self.check_not_deleted()
        if self.builtin:
            raise BuiltinAvatarProtected("the built-in avatar cannot be deleted")
        self._deleted()

    def reset_to_defaults(self) -> None:
        """Give the built-in avatar back its own name and prompts (after the user is forgotten)."""
        wanted = {k: BUILTIN_DEFAULTS[k] for k in ("name", "persona", "style")}
        if self.builtin and wanted != {k: getattr(self, k) for k in wanted}:
            self._reset(**wanted)

    def check_not_deleted(self) -> None:
        if self.deleted:
            raise AlreadyGone(f"avatar {self.id} is deleted")

    # ------------------------------------------------------------------ events
    @event(AvatarRenamed)
    def _renamed(self, name: str) -> None:
        self.name = name

    @event(AvatarPersonaChanged)
    def _persona_changed(self, persona: str) -> None:
        self.persona = persona

    @event(AvatarStyleChanged)
    def _style_changed(self, style: str) -> None:
        self.style = style

    @event(AvatarVoiceChanged)
    def _voice_changed(self, voice: str) -> None:
        self.voice = voice

    @event(AvatarDeleted)
    def _deleted(self) -> None:
        self.deleted = True

    @event(AvatarReset)
    def _reset(self, name: str, persona: str, style: str) -> None:
        self.name, self.persona, self.style = name, persona, style


def _prompt(text: str, what: str) -> str:
    text = text.strip()
    return require_text(text, what, limit=MAX_PROMPT) if text else ""
