"""Export the wire protocol as JSON Schema files (``luminad export-schemas``)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from luminad.protocol import PROTOCOL_VERSION, SCHEMA_TYPES


def render_schemas() -> dict[str, str]:
    """File name -> JSON text for every exported protocol type."""
    out: dict[str, str] = {}
    for name, typ in SCHEMA_TYPES.items():
        schema = msgspec.json.schema(typ)
        schema["$comment"] = f"Lumina protocol {PROTOCOL_VERSION}; made by luminad export-schemas"
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def export_schemas(out_dir: Path) -> list[Path]:
    """Write every schema into ``out_dir``; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in render_schemas().items():
        path = out_dir / filename
        path.write_text(text)
        written.append(path)
    return written
