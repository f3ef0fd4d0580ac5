"""docs/PROTOCOL.md lists exactly the message types, error codes and HTTP routes the code has.

When you add a message, a code or a route, add it to the document in the same commit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import msgspec
import pytest

from luminad import errors, protocol
from luminad.api.app import create_app
from luminad.api.runtime import Runtime
from luminad.api.security import SecurityPolicy
from luminad.settings import REPO_ROOT, load_settings

DOC = REPO_ROOT / "docs" / "PROTOCOL.md"


def _section(heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    text = DOC.read_text()
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n") + len(heading) + 1
    ends = [
        m.start()
        for m in re.finditer(r"^(#+) ", text[start:], re.MULTILINE)
        if len(m.group(1)) <= len(level)
    ]
    return text[start : start + ends[0]] if ends else text[start:]


def _first_cells(section: str) -> list[str]:
    """The backticked names in the first column of a section's table rows."""
    return re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)


def _tags(union: Any) -> list[str]:
    return [str(msgspec.inspect.type_info(t).tag) for t in get_args(union)]  # type: ignore[attr-defined]


def test_client_messages_are_documented_exactly() -> None:
    documented = _first_cells(_section("### Client → daemon"))
    assert sorted(documented) == sorted(_tags(protocol.ClientMessage))


def test_server_messages_are_documented_exactly() -> None:
    documented = _first_cells(_section("### Daemon → client"))
    assert sorted(documented) == sorted(_tags(protocol.ServerMessage))


def test_error_codes_are_documented_exactly_with_their_status() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", _section("## 4. Error codes"), re.MULTILINE)
    documented = dict(rows)
    assert len(rows) == len(documented), "a code is listed twice"
    assert sorted(documented) == sorted(protocol.ERROR_CODES)
    # every exception class states the status the document gives its code (the two abstract
    # groups, EngineUnavailable and NotFound, only share a status with their subclasses)
    for cls in _error_classes(errors.LuminaError):
        if cls.code != "internal" or cls is errors.LuminaError:
            assert documented[cls.code] == str(cls.status), cls.__name__


def _error_classes(root: type[errors.LuminaError]) -> list[type[errors.LuminaError]]:
    """The product's exception tree (classes a test module defines are not part of it)."""
    out = [root]
    for sub in root.__subclasses__():
        if sub.__module__.startswith("luminad."):
            out.extend(_error_classes(sub))
    return out


def test_each_code_has_one_exception_meaning() -> None:
    """Two unrelated exception classes never share a code (a subclass may refine its parent)."""
    owner: dict[str, type[errors.LuminaError]] = {}
    for cls in _error_classes(errors.LuminaError):
        first = owner.setdefault(cls.code, cls)
        assert issubclass(cls, first), f"{cls.__name__} reuses {first.__name__}'s {cls.code}"


def test_http_routes_are_documented_exactly(tmp_path: Path) -> None:
    settings = load_settings({"LUMINA_HOME": str(tmp_path)})
    app = create_app(Runtime(settings), SecurityPolicy(settings, "t" * 64))
    served = set()
    for route in app.routes:
        if route.path in ("/", "/{file_path:path}") or route.path.startswith("/schema"):
            continue  # the web page's static files and OpenAPI (documented as such)
        methods = getattr(route, "methods", None) or {"GET"}  # WebSocket routes: GET
        for method in methods - {"HEAD", "OPTIONS"}:
            served.add(f"{method} {re.sub(r':[a-z]+}', '}', route.path)}")
    table = _first_cells(_section("## 3. HTTP API"))
    documented = {
        re.sub(r"\{[a-z_]+\}", "{}", cell)
        for cell in table
        if cell not in ("GET /", "GET /schema/openapi.json")
    }
    assert documented == {re.sub(r"\{[a-z_]+\}", "{}", r) for r in served}


def test_error_codes_are_a_closed_set_in_the_schema() -> None:
    schema = msgspec.json.schema(protocol.ErrorBody)
    body = schema["$defs"]["ErrorBody"]["properties"]["code"]
    assert sorted(body["enum"]) == sorted(protocol.ERROR_CODES)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"code": "no_such_code", "message": "m"}', type=protocol.ErrorBody)
