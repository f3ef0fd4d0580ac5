"""schemas/ must match protocol.py: regenerate with `luminad export-schemas`."""

from __future__ import annotations

from luminad.schemas_export import render_schemas
from luminad.settings import REPO_ROOT


def test_schemas_dir_is_up_to_date() -> None:
    schemas = REPO_ROOT / "schemas"
    expected = render_schemas()
    stale = [
        name
        for name, text in expected.items()
        if not (schemas / name).is_file() or (schemas / name).read_text() != text
    ]
    assert not stale, f"schemas/ is stale ({', '.join(stale)}): run `luminad export-schemas`"
    extra = {p.name for p in schemas.glob("*.schema.json")} - set(expected)
    assert not extra, f"schemas/ holds files protocol.py no longer exports: {sorted(extra)}"
