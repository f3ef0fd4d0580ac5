from __future__ import annotations

import pytest

from luminad import protocol


@pytest.fixture
def lumina_avatar() -> protocol.Avatar:
    return protocol.Avatar(id="a1", name="Lumina", persona="", style="", voice="joe", builtin=True)
