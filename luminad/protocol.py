"""Every message on the wire (PROTOCOL.md, version 1), as msgspec Structs.

Voice-session messages are tagged by ``type``; :data:`ClientMessage` and :data:`ServerMessage`
are the unions, decoded by one typed decoder (:func:`decode_client`). HTTP bodies are plain
Structs. New fields always get defaults. Audio never goes in JSON except the legacy ``audio``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import msgspec

PROTOCOL_VERSION = 1
#: Largest binary (or text) frame a client may send.
MAX_FRAME_BYTES = 64 * 1024
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 96000

#: The closed set of error codes (docs/PROTOCOL.md lists each with its meaning and HTTP status).
#: One meaning per code; a client may switch on them. Additions are allowed, renames are not.
ErrorCode = Literal[
    "bad_message",
    "unsupported_protocol",
    "frame_too_large",
    "rate_limited",
    "unauthorized",
    "forbidden_origin",
    "forbidden_host",
    "no_such_route",
    "method_not_allowed",
    "conflict",
    "loading",
    "loading_failed",
    "stt_unavailable",
    "llm_unavailable",
    "tts_unavailable",
    "model_missing",
    "avatar_not_found",
    "conversation_not_found",
    "memory_not_found",
    "timer_not_found",
    "turn_not_found",
    "internet_disabled",
    "secret_refused",
    "tool_failed",
    "storage_full",
    "internal",
]
#: Every :data:`ErrorCode`, in the order above.
ERROR_CODES: tuple[ErrorCode, ...] = get_args(ErrorCode)


class _Msg(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=False):
    pass


# ------------------------------------------------------------------------ client -> daemon
class Hello(_Msg, tag="hello", frozen=True, kw_only=True):
    """Must be first; the daemon answers ``ready``."""

    protocol: int = PROTOCOL_VERSION
    client: str = "unknown"
    #: Rate (Hz) of the binary PCM16LE mono audio frames this client sends.
    sample_rate: int = 16000
    avatar_id: str | None = None
    #: Resume this conversation (its history comes back in ``ready``).
    conversation_id: str | None = None
    voice: str | None = None
    tts: bool = True


class Audio(_Msg, tag="audio", frozen=True, kw_only=True):
    """Legacy base64 form of a binary audio frame."""

    pcm16_b64: str
    sample_rate: int | None = None


class End(_Msg, tag="end", frozen=True, kw_only=True):
    """End of the current utterance (push-to-talk release or client silence timer)."""


class Text(_Msg, tag="text", frozen=True, kw_only=True):
    """A typed turn (no STT)."""

    text: str


class Cancel(_Msg, tag="cancel", frozen=True, kw_only=True):
    """Stop the assistant's turn in flight."""

    reason: Literal["barge_in", "user"] = "user"


class Config(_Msg, tag="config", frozen=True, kw_only=True):
    voice: str | None = None
    tts: bool | None = None
    internet: bool | None = None


class Ping(_Msg, tag="ping", frozen=True, kw_only=True):
    nonce: str | None = None


ClientMessage = Hello | Audio | End | Text | Cancel | Config | Ping


# ------------------------------------------------------------------------ daemon -> client
class AvatarRef(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    voice: str


class HistoryTurn(msgspec.Struct, frozen=True, kw_only=True):
    turn_id: str
    role: Literal["user", "assistant"]
    text: str
    #: ISO 8601 UTC timestamp.
    at: str


class EngineHealth(msgspec.Struct, frozen=True, kw_only=True):
    """One engine's health: configured, reachable, which model, and what to do when not ok."""

    ok: bool
    configured: bool
    reachable: bool
    model: str = ""
    detail: str = ""
    action: str | None = None
    #: Timings (ms) of a deep check, by stage.
    timings_ms: dict[str, float] = {}


class Health(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    engines: dict[str, EngineHealth]
    #: "loading" while models load, then "ready".
    status: str = "ready"
    version: str = "0.1.0"
    protocol: int = PROTOCOL_VERSION
    #: Word error rate of the deep check (Piper speaks, whisper listens), when asked for.
    deep_wer: float | None = None


class Ready(_Msg, tag="ready", frozen=True, kw_only=True):
    session_id: str
    conversation_id: str
    avatar: AvatarRef
    history: list[HistoryTurn]
    health: Health
    internet: bool = False


class Vad(_Msg, tag="vad", frozen=True, kw_only=True):
    state: Literal["speech", "silence"]


class PartialTranscript(_Msg, tag="partial_transcript", frozen=True, kw_only=True):
    turn_id: str
    text: str


class FinalTranscript(_Msg, tag="final_transcript", frozen=True, kw_only=True):
    turn_id: str
    text: str


class AssistantDelta(_Msg, tag="assistant_delta", frozen=True, kw_only=True):
    turn_id: str
    text: str


class TtsChunk(_Msg, tag="tts_chunk", frozen=True, kw_only=True):
    """Header of the binary PCM16LE mono frame that follows it immediately."""

    turn_id: str
    seq: int
    #: Rate (Hz) of the PCM frame that follows.
    sample_rate: int
    text: str


class Source(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    url: str


class AssistantDone(_Msg, tag="assistant_done", frozen=True, kw_only=True):
    turn_id: str
    text: str
    sources: list[Source] = []


class TurnTiming(_Msg, tag="turn_timing", frozen=True, kw_only=True):
    """Per-turn latency (ms), measured from the end of user speech."""

    turn_id: str
    stt_ms: float | None = None
    llm_first_token_ms: float | None = None
    tts_first_audio_ms: float | None = None
    voice_to_voice_ms: float | None = None
    endpoint_ms: float | None = None
    first_sentence_ms: float | None = None
    total_ms: float | None = None
    llm_provider: str = ""


class Cancelled(_Msg, tag="cancelled", frozen=True, kw_only=True):
    turn_id: str
    reason: str
    #: The text of the audio chunks already sent (what the user heard).
    heard_text: str


class MemoryWritten(_Msg, tag="memory_written", frozen=True, kw_only=True):
    memory_id: str
    text: str


class ToolCall(_Msg, tag="tool_call", frozen=True, kw_only=True):
    """A tool ran in this turn (a local intent or the model called it)."""

    turn_id: str
    name: str
    arguments: dict[str, Any] = {}
    #: What the tool answered, a short sentence.
    result: str
    #: False when the tool failed (the result says why).
    ok: bool = True


TimerState = Literal["set", "fired", "cancelled"]


class TimerChanged(_Msg, tag="timer", frozen=True, kw_only=True):
    """A timer was set, fired or cancelled; when one fires the daemon also speaks it."""

    timer_id: str
    label: str
    state: TimerState
    #: ISO 8601 UTC time the timer is (or was) due.
    due_at: str


class SecretRedacted(_Msg, tag="secret_redacted", frozen=True, kw_only=True):
    """The do-not-store filter redacted secrets from the user's turn before it was stored,
    remembered or sent to any model or search engine."""

    turn_id: str
    #: What was redacted, e.g. ["PIN"]; the stored text reads "[redacted: PIN]" in its place.
    kinds: list[str]
    #: A sentence to show or say to the user.
    message: str


class Error(_Msg, tag="error", frozen=True, kw_only=True):
    code: ErrorCode
    message: str
    action: str | None = None
    turn_id: str | None = None


class Pong(_Msg, tag="pong", frozen=True, kw_only=True):
    nonce: str | None = None


ServerMessage = (
    Ready
    | Vad
    | PartialTranscript
    | FinalTranscript
    | AssistantDelta
    | TtsChunk
    | AssistantDone
    | TurnTiming
    | Cancelled
    | MemoryWritten
    | ToolCall
    | TimerChanged
    | SecretRedacted
    | Error
    | Pong
)


# ------------------------------------------------------------------------ HTTP bodies
class Avatar(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    persona: str
    style: str
    voice: str
    builtin: bool = False


class AvatarCreate(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    persona: str = ""
    style: str = ""
    voice: str = "joe"


class AvatarPatch(msgspec.Struct, frozen=True, kw_only=True):
    name: str | None = None
    persona: str | None = None
    style: str | None = None
    voice: str | None = None


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    preferred_name: str | None = None
    preferences: dict[str, str] = {}


class MemorySource(msgspec.Struct, frozen=True, kw_only=True):
    conversation_id: str | None = None
    turn_id: str | None = None


class Memory(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    text: str
    avatar_id: str | None
    source: MemorySource
    created_at: str
    #: Cosine similarity, present in search results.
    score: float | None = None


class Timer(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    label: str
    state: TimerState
    #: ISO 8601 UTC time the timer is (or was) due.
    due_at: str
    #: ISO 8601 UTC time the timer was set.
    created_at: str


class MemoryCreate(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    avatar_id: str | None = None


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    turn_id: str
    role: Literal["user", "assistant"]
    text: str
    at: str
    interrupted: bool = False


class Conversation(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    avatar_id: str | None
    started_at: str
    turns: list[Turn] = []


class ForgetMeRequest(msgspec.Struct, frozen=True, kw_only=True):
    confirm: str


class LoginLink(msgspec.Struct, frozen=True, kw_only=True):
    #: The web page's URL with a one-time code in its fragment (``#login=<code>``).
    url: str
    expires_in_s: float


class LoginRequest(msgspec.Struct, frozen=True, kw_only=True):
    code: str


class LoginSession(msgspec.Struct, frozen=True, kw_only=True):
    #: Sent as ``Authorization: Bearer <session>`` and as the WebSocket subprotocol
    #: ``lumina.session.<session>``; kept in the page's sessionStorage, never in a cookie.
    session: str


class ForgetReceipt(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    forgotten_at: str
    events_shredded: int
    rows_purged: int
    key_id: str
    duration_ms: float
    #: Salted hashes of the shredded content's word 4-grams kept for the audit (not the
    #: content): ``GET /v1/audit/forget-me`` scans every file for them.
    fingerprints: int = 0


class DeletionReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """What deleting one memory or conversation destroyed."""

    ok: bool
    #: "memory" or "conversation".
    deleted: str
    id: str
    deleted_at: str
    #: Events whose content now reads "[shredded]" in the log (they stay, in order).
    events_shredded: int
    #: Whether its own data key was destroyed (False for content written before such keys).
    key_destroyed: bool
    duration_ms: float


class AuditCheck(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    ok: bool
    detail: str = ""


class Audit(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    checks: list[AuditCheck]


class LoggedEvent(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    id: str
    type: str
    aggregate_id: str
    version: int
    at: str
    #: Decrypted content, or the string "[shredded]" once the user's key is gone.
    data: dict[str, Any] | str


class ChainVerification(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/events/verify``: the log's hash chain recomputed from the stored bytes."""

    #: True when every event's chain hash matches its predecessor and its stored bytes.
    ok: bool
    #: Events whose link was checked and holds (all of them when ``ok``).
    events: int
    #: Hex SHA-256 of the last link that holds (64 zeros for an empty log); note it to check
    #: later that nothing before it was changed or removed.
    head: str
    #: The first log position where the chain breaks: an edited event, or a removed one.
    broken_at: int | None = None


class RecordedMemory(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    #: Cosine similarity when it was recalled.
    score: float | None = None


class ToolCallRecord(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    arguments: dict[str, Any] = {}
    result: str = ""


class WebResult(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    url: str
    snippet: str = ""


class ReplyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What made a reply, stored (sealed like all user content) with it. Content the log
    already holds is referenced by id: memories, history turns, the avatar's version."""

    avatar_id: str | None = None
    #: The avatar aggregate's version when the reply was made.
    avatar_version: int | None = None
    prompt_version: str = ""
    #: Memories recalled into the prompt, best first.
    memories: list[RecordedMemory] = []
    #: Turn ids of the history window sent to the model, oldest first.
    history: list[str] = []
    #: ``provider:model`` of the chat model.
    model: str = ""
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    #: Tools the model was offered (each call and its result is a ``ToolCalled`` event).
    tools_offered: list[str] = []
    web_results: list[WebResult] = []


class ReplayRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/turns/{turn_id}/replay``: every field overrides what was recorded."""

    #: ``embedded``, ``ollama`` or ``openai`` (default: the daemon's chat model).
    llm: Literal["embedded", "ollama", "openai"] | None = None
    #: The model of that provider: a GGUF path or a bundled model name for ``embedded``, the
    #: model name for Ollama and OpenAI-compatible servers.
    model: str | None = None
    avatar_id: str | None = None
    max_reply_tokens: Annotated[int, msgspec.Meta(ge=1, le=4096)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0.0, le=2.0)] | None = None


class ReplayMemory(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    score: float | None = None
    #: The memory's text (empty when gone).
    text: str = ""
    #: Deleted since the turn: left out of the replayed context.
    gone: bool = False


class ReplayContext(msgspec.Struct, frozen=True, kw_only=True):
    """The context a replay rebuilt from the log."""

    #: The log position the read models were folded up to (just before the utterance).
    position: int
    avatar_id: str
    preferred_name: str | None = None
    #: Turn ids of the history window, oldest first.
    history: list[str] = []
    memories: list[ReplayMemory] = []


class ReplayRun(msgspec.Struct, frozen=True, kw_only=True):
    """One reply to the same turn: as recorded, or as replayed."""

    #: ``provider:model``.
    provider: str
    max_reply_tokens: int | None = None
    temperature: float | None = None
    text: str
    interrupted: bool = False
    #: Tools called during this reply, with what they answered (in a replay: the recorded
    #: answer of the same tool; a replay runs no tool).
    tool_calls: list[ToolCallRecord] = []
    first_token_ms: float | None = None
    total_ms: float | None = None
    #: The recorded turn's stage timings (ms), as ``turn_timing`` reported them.
    timings_ms: dict[str, float] = {}


class TurnReplay(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/turns/{turn_id}/replay``: the recorded reply beside the new one."""

    turn_id: str
    conversation_id: str
    user_text: str
    recorded: ReplayRun
    replayed: ReplayRun
    #: What was recorded with the reply (None for replies made before recording existed).
    record: ReplyRecord | None = None
    context: ReplayContext
    #: Sentences naming every way the rebuilt context differs from the recorded one.
    differences: list[str] = []


class EgressEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One request that left the machine, recorded before it was sent."""

    id: str
    #: ISO 8601 UTC time it was recorded (just before sending).
    at: str
    #: What it was for, e.g. "web_search".
    kind: str
    host: str
    #: What it carried (secrets removed), or "[shredded]" once the user was forgotten.
    query: str


class StageLatency(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    p50_ms: float | None
    p95_ms: float | None


class LatencyMetrics(msgspec.Struct, frozen=True, kw_only=True):
    #: Timed turns in the window (every outcome).
    turns: int
    #: Per stage over those turns, interrupted and failed ones included.
    stages: dict[str, StageLatency]
    #: How many of those turns were ``completed``, ``interrupted`` (cancel, barge-in, a newer
    #: turn, the client left) or ``failed`` (an engine failed).
    outcomes: dict[str, int] = msgspec.field(default_factory=dict)


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    code: ErrorCode
    message: str
    action: str | None = None


_client_decoder = msgspec.json.Decoder(ClientMessage)
_encoder = msgspec.json.Encoder()


def decode_client(data: bytes | str) -> ClientMessage:
    """Decode one client text frame; raises ``msgspec.ValidationError``/``DecodeError``."""
    message: ClientMessage = _client_decoder.decode(data)
    return message


def encode(message: msgspec.Struct) -> bytes:
    """Encode any protocol Struct as JSON bytes."""
    return _encoder.encode(message)


#: Every Struct exported to ``schemas/`` by ``luminad export-schemas``.
SCHEMA_TYPES: dict[str, object] = {
    "client_message": ClientMessage,
    "server_message": ServerMessage,
    "avatar": Avatar,
    "avatar_create": AvatarCreate,
    "avatar_patch": AvatarPatch,
    "profile": Profile,
    "memory": Memory,
    "memory_create": MemoryCreate,
    "timer": Timer,
    "conversation": Conversation,
    "forget_me_request": ForgetMeRequest,
    "forget_receipt": ForgetReceipt,
    "deletion_receipt": DeletionReceipt,
    "audit": Audit,
    "event": LoggedEvent,
    "event_chain": ChainVerification,
    "replay_request": ReplayRequest,
    "turn_replay": TurnReplay,
    "egress_entry": EgressEntry,
    "health": Health,
    "latency_metrics": LatencyMetrics,
    "login_link": LoginLink,
    "login_request": LoginRequest,
    "login_session": LoginSession,
    "error": ErrorBody,
}
