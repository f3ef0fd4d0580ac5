"""The avatars: the personas Lumina can take (name, persona, style, voice)."""

from __future__ import annotations

from typing import Any

from litestar import delete, get, patch, post

from luminad import errors, protocol
from luminad.api.runtime import Runtime, avatar_ids, call, parse_id


def avatars_routes(runtime: Runtime) -> list[Any]:
    """The route handlers of this area."""

    @get("/v1/avatars", tags=["avatars"])
    async def list_avatars() -> list[protocol.Avatar]:
        return await call(runtime.core().queries.list_avatars)

    @post("/v1/avatars", tags=["avatars"])
    async def create_avatar(data: protocol.AvatarCreate) -> protocol.Avatar:
        core = runtime.core()
        if not data.name.strip():
            raise errors.BadMessage("An avatar needs a name.")
        avatar_id = await call(core.create_avatar, data.name, data.persona, data.style, data.voice)
        return await call(core.queries.get_avatar, avatar_id)

    @get("/v1/avatars/{avatar_id:str}", tags=["avatars"])
    async def get_avatar(avatar_id: str) -> protocol.Avatar:
        core = runtime.core()
        uid = parse_id(avatar_id, errors.AvatarNotFound, "avatar", avatar_ids(core))
        return await call(core.queries.get_avatar, uid)

    @patch("/v1/avatars/{avatar_id:str}", tags=["avatars"])
    async def update_avatar(avatar_id: str, data: protocol.AvatarPatch) -> protocol.Avatar:
        core = runtime.core()
        uid = parse_id(avatar_id, errors.AvatarNotFound, "avatar", avatar_ids(core))
        if data.name is not None and not data.name.strip():
            raise errors.BadMessage("An avatar needs a name.")
        await call(
            core.update_avatar,
            uid,
            name=data.name,
            persona=data.persona,
            style=data.style,
            voice=data.voice,
        )
        return await call(core.queries.get_avatar, uid)

    @delete("/v1/avatars/{avatar_id:str}", tags=["avatars"], status_code=204)
    async def delete_avatar(avatar_id: str) -> None:
        core = runtime.core()
        uid = parse_id(avatar_id, errors.AvatarNotFound, "avatar", avatar_ids(core))
        await call(core.delete_avatar, uid)

    return [list_avatars, create_avatar, get_avatar, update_avatar, delete_avatar]
