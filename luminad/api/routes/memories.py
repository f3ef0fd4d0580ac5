"""The memories: list, semantic search, add and delete."""

from __future__ import annotations

from typing import Any

from litestar import delete, get, post
from litestar.params import Parameter

from luminad import errors, protocol
from luminad.api.runtime import MAX_PAGE, Runtime, avatar_ids, call, parse_id


def memories_routes(runtime: Runtime) -> list[Any]:
    """The route handlers of this area."""

    @get("/v1/memories", tags=["memories"])
    async def list_memories(
        q: str | None = None,
        avatar_id: str | None = None,
        limit: int = Parameter(default=10, ge=1, le=MAX_PAGE),
    ) -> list[protocol.Memory]:
        core = runtime.core()
        avatar = (
            parse_id(avatar_id, errors.AvatarNotFound, "avatar", avatar_ids(core))
            if avatar_id
            else None
        )
        if q:
            return await call(
                core.queries.search_memories,
                q,
                avatar_id=avatar,
                limit=limit,
                min_score=runtime.settings.memory_min_score,
            )
        return await call(core.queries.list_memories, avatar)

    @post("/v1/memories", tags=["memories"])
    async def add_memory(data: protocol.MemoryCreate) -> protocol.Memory:
        core = runtime.core()
        if not data.text.strip():
            raise errors.BadMessage("A memory needs some text.")
        avatar = (
            parse_id(data.avatar_id, errors.AvatarNotFound, "avatar", avatar_ids(core))
            if data.avatar_id
            else None
        )
        if avatar is not None:
            await call(core.queries.get_avatar, avatar)
        memory_id = await call(core.remember, data.text, avatar_id=avatar)
        for memory in await call(core.queries.list_memories, avatar):
            if memory.id == str(memory_id):
                return memory
        return protocol.Memory(
            id=str(memory_id),
            text=data.text,
            avatar_id=str(avatar) if avatar else None,
            source=protocol.MemorySource(),
            created_at="",
        )

    @delete("/v1/memories/{memory_id:str}", tags=["memories"], status_code=200)
    async def delete_memory(memory_id: str) -> protocol.DeletionReceipt:
        """Delete a memory everywhere and shred its text in the log; answers a receipt."""
        core = runtime.core()
        uid = parse_id(
            memory_id,
            errors.MemoryNotFound,
            "memory",
            lambda: [m.id for m in core.queries.list_memories()],
        )
        receipt: protocol.DeletionReceipt = await call(core.forget_memory, uid)
        return receipt

    return [list_memories, add_memory, delete_memory]
