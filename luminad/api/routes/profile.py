"""The user's profile: preferred name and preferences."""

from __future__ import annotations

from typing import Any

from litestar import get, put

from luminad import protocol
from luminad.api.runtime import Runtime, call


def profile_routes(runtime: Runtime) -> list[Any]:
    """The route handlers of this area."""

    @get("/v1/profile", tags=["profile"])
    async def get_profile() -> protocol.Profile:
        return await call(runtime.core().queries.get_profile)

    @put("/v1/profile", tags=["profile"])
    async def put_profile(data: protocol.Profile) -> protocol.Profile:
        core = runtime.core()
        if data.preferred_name is not None:
            await call(core.set_preferred_name, data.preferred_name)
        for key, value in data.preferences.items():
            await call(core.set_preference, key, value)
        return await call(core.queries.get_profile)

    return [get_profile, put_profile]
