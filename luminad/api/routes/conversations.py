"""The conversations, newest first, and one with its turns."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from litestar import delete, get
from litestar.params import Parameter

from luminad import errors, protocol
from luminad.api.runtime import MAX_PAGE, Runtime, call, parse_id

if TYPE_CHECKING:
    from luminad.app import Lumina


def conversations_routes(runtime: Runtime) -> list[Any]:
    """The route handlers of this area."""

    @get("/v1/conversations", tags=["conversations"])
    async def list_conversations(
        limit: int = Parameter(default=50, ge=1, le=MAX_PAGE),
    ) -> list[protocol.Conversation]:
        return await call(runtime.core().queries.list_conversations, limit)

    @get("/v1/conversations/{conversation_id:str}", tags=["conversations"])
    async def get_conversation(conversation_id: str) -> protocol.Conversation:
        core = runtime.core()
        uid = parse_id(
            conversation_id, errors.ConversationNotFound, "conversation", _conversation_ids(core)
        )
        return await call(core.queries.get_conversation, uid)

    @delete("/v1/conversations/{conversation_id:str}", tags=["conversations"], status_code=200)
    async def delete_conversation(conversation_id: str) -> protocol.DeletionReceipt:
        """Delete a conversation everywhere and shred its content in the log; a receipt."""
        core = runtime.core()
        uid = parse_id(
            conversation_id, errors.ConversationNotFound, "conversation", _conversation_ids(core)
        )
        receipt: protocol.DeletionReceipt = await call(core.delete_conversation, uid)
        return receipt

    return [list_conversations, get_conversation, delete_conversation]


def _conversation_ids(core: Lumina) -> Callable[[], list[str]]:
    return lambda: [c.id for c in core.queries.list_conversations(MAX_PAGE)]
