"""The exception tree of luminad. Every error that can reach a client has a stable ``code`` from
the closed set :data:`luminad.protocol.ErrorCode` (docs/PROTOCOL.md), an HTTP ``status`` and,
where a person can act, an ``action`` sentence. Each code has one meaning.

::

    LuminaError (internal, 500)
    ├── BadMessage (bad_message, 400)
    │   ├── UnsupportedProtocol (unsupported_protocol, 400)
    │   ├── FrameTooLarge (frame_too_large, 413)
    │   └── SecretNotStored (secret_refused, 422)
    ├── RateLimited (rate_limited, 429)
    ├── Unauthorized (unauthorized, 401)
    ├── ForbiddenOrigin (forbidden_origin, 403)
    ├── ForbiddenHost (forbidden_host, 403)
    ├── EngineUnavailable (503)
    │   ├── SttUnavailable (stt_unavailable)
    │   ├── LlmUnavailable (llm_unavailable)
    │   ├── TtsUnavailable (tts_unavailable)
    │   ├── ModelMissing (model_missing)
    │   ├── LoadingFailed (loading_failed)
    │   └── api.runtime.DaemonLoading (loading)
    ├── NotFound (404)
    │   ├── AvatarNotFound (avatar_not_found)
    │   ├── ConversationNotFound (conversation_not_found)
    │   ├── MemoryNotFound (memory_not_found)
    │   ├── TimerNotFound (timer_not_found)
    │   └── TurnNotFound (turn_not_found)
    ├── Conflict (conflict, 409)   a command the aggregate's invariants refuse
    ├── InternetDisabled (internet_disabled, 403)
    ├── ToolFailed (tool_failed, 503)
    └── StorageFull (storage_full, 507)

HTTP errors Litestar raises itself (unknown route, wrong method, bad body) are mapped in
``api/http_errors.py`` to ``no_such_route``, ``method_not_allowed`` and ``bad_message``.
"""

from __future__ import annotations

from typing import ClassVar

from luminad.protocol import ErrorCode


class LuminaError(Exception):
    """Base of every luminad error; carries what a client needs to show it."""

    code: ClassVar[ErrorCode] = "internal"
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
    code: ClassVar[ErrorCode] = "bad_message"
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


class ForbiddenHost(LuminaError):
    """A ``Host`` header that is not one of the daemon's own names (DNS rebinding)."""

    code = "forbidden_host"
    status = 403
    default_action = "Open Lumina at http://127.0.0.1 (the URL that `lumina open` prints)."


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


class LoadingFailed(EngineUnavailable):
    """The daemon could not load its engines at start; it stays up to say so."""

    code = "loading_failed"
    default_action = "Read the log of `luminad serve`, fix the cause and restart the daemon."


class SecretNotStored(BadMessage):
    """The do-not-store filter found a secret in something asked to be kept."""

    code = "secret_refused"
    status = 422
    default_action = (
        "Lumina never keeps passwords, PINs, card or account numbers, codes or keys: "
        "leave the secret out and try again."
    )


class NotFound(LuminaError):
    status = 404


class AvatarNotFound(NotFound):
    code = "avatar_not_found"


class ConversationNotFound(NotFound):
    code = "conversation_not_found"


class MemoryNotFound(NotFound):
    code = "memory_not_found"


class TimerNotFound(NotFound):
    code = "timer_not_found"


class TurnNotFound(NotFound):
    code = "turn_not_found"


class Conflict(LuminaError):
    """A command that the domain's invariants refuse (e.g. renaming a deleted avatar)."""

    code = "conflict"
    status = 409


class InternetDisabled(LuminaError):
    code = "internet_disabled"
    status = 403
    default_action = "Switch internet mode on for this session to allow web search."


class ToolFailed(LuminaError):
    """A tool the assistant called failed (e.g. the search engine did not answer)."""

    code = "tool_failed"
    status = 503


class StorageFull(LuminaError):
    """The disk holding the event store is full: nothing new can be stored."""

    code = "storage_full"
    status = 507
    default_action = "Free some disk space; Lumina keeps working once it can write again."
