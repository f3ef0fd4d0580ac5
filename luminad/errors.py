"""The exception tree of luminad. Every error that can reach a client has a stable ``code``
(PROTOCOL.md), an HTTP ``status`` and, where a person can act, an ``action`` sentence.

::

    LuminaError (internal, 500)
    ├── BadMessage (bad_message, 400)
    │   ├── UnsupportedProtocol (unsupported_protocol, 400)
    │   └── FrameTooLarge (frame_too_large, 413)
    ├── RateLimited (rate_limited, 429)
    ├── Unauthorized (unauthorized, 401)
    ├── ForbiddenOrigin (forbidden_origin, 403)
    ├── EngineUnavailable (503)
    │   ├── SttUnavailable (stt_unavailable)
    │   ├── LlmUnavailable (llm_unavailable)
    │   ├── TtsUnavailable (tts_unavailable)
    │   └── ModelMissing (model_missing)
    ├── NotFound (404)
    │   ├── AvatarNotFound (avatar_not_found)
    │   ├── ConversationNotFound (conversation_not_found)
    │   └── MemoryNotFound (memory_not_found)
    ├── Conflict (bad_message, 409)   a command the aggregate's invariants refuse
    └── InternetDisabled (internet_disabled, 403)
"""

from __future__ import annotations

from typing import ClassVar


class LuminaError(Exception):
    """Base of every luminad error; carries what a client needs to show it."""

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500
    default_action: ClassVar[str | None] = None

    def __init__(self, message: str, *, action: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.action = action if action is not None else self.default_action

    def to_dict(self) -> dict[str, str | None]:
        """The structured body of PROTOCOL.md: ``{code, message, action}``."""
        return {"code": self.code, "message": self.message, "action": self.action}


class BadMessage(LuminaError):
    code = "bad_message"
    status = 400


class UnsupportedProtocol(BadMessage):
    code = "unsupported_protocol"
    default_action = "Update the client: this daemon speaks protocol 1."


class FrameTooLarge(BadMessage):
    code = "frame_too_large"
    status = 413
    default_action = "Send audio in frames of at most 64 KiB."


class RateLimited(LuminaError):
    code = "rate_limited"
    status = 429
    default_action = "Send audio at real-time pace (at most twice real time)."


class Unauthorized(LuminaError):
    code = "unauthorized"
    status = 401
    default_action = "Use the token in the config dir, or open the URL that `lumina open` prints."


class ForbiddenOrigin(LuminaError):
    code = "forbidden_origin"
    status = 403
    default_action = "Open Lumina from the URL that `lumina open` prints."


class EngineUnavailable(LuminaError):
    status = 503


class SttUnavailable(EngineUnavailable):
    code = "stt_unavailable"
    default_action = "Run `lumina doctor` to see why speech recognition is not ready."


class LlmUnavailable(EngineUnavailable):
    code = "llm_unavailable"
    default_action = "Start Ollama: `ollama serve`, or set LUMINA_LLM=embedded."


class TtsUnavailable(EngineUnavailable):
    code = "tts_unavailable"
    default_action = "Run `lumina doctor` to see why the voice is not ready."


class ModelMissing(EngineUnavailable):
    code = "model_missing"
    default_action = "Reinstall with ./install.sh, or point the setting at a model file."


class NotFound(LuminaError):
    status = 404


class AvatarNotFound(NotFound):
    code = "avatar_not_found"


class ConversationNotFound(NotFound):
    code = "conversation_not_found"


class MemoryNotFound(NotFound):
    code = "memory_not_found"


class Conflict(LuminaError):
    """A command that the domain's invariants refuse (e.g. renaming a deleted avatar)."""

    code = "bad_message"
    status = 409


class InternetDisabled(LuminaError):
    code = "internet_disabled"
    status = 403
    default_action = "Switch internet mode on for this session to allow web search."


ERROR_CODES: tuple[str, ...] = (
    "bad_message",
    "unsupported_protocol",
    "frame_too_large",
    "rate_limited",
    "unauthorized",
    "forbidden_origin",
    "stt_unavailable",
    "llm_unavailable",
    "tts_unavailable",
    "model_missing",
    "avatar_not_found",
    "conversation_not_found",
    "memory_not_found",
    "internet_disabled",
    "internal",
)
