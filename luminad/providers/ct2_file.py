"""Reading a CTranslate2 model file: a flat list of named tensors.

::

    u32 binary version (6) | str spec name ("WhisperSpec") | u32 revision | u32 n_variables
    per variable: str name | u8 rank | u32 dims[rank] | u8 dtype | u32 n_bytes | bytes
    u32 n_aliases | per alias: str alias | str target
    (str = u16 length incl. NUL, bytes, NUL)
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

#: CTranslate2 DataType enum -> numpy dtype.
_CT2_DTYPES: dict[int, npt.DTypeLike] = {
    0: np.float32,
    1: np.int8,
    2: np.int16,
    3: np.int32,
    4: np.float16,
}


class ConversionError(Exception):
    """The input is not a CTranslate2 Whisper model this converter understands."""


@dataclass(frozen=True)
class Ct2Model:
    spec: str
    revision: int
    variables: dict[str, npt.NDArray[np.generic]]
    aliases: dict[str, str]


def read_ct2(parts: Sequence[Path]) -> Ct2Model:
    """Parse a CTranslate2 ``model.bin`` (given as one file or as consecutive parts)."""
    blob = b"".join(Path(p).read_bytes() for p in parts)
    view = memoryview(blob)
    pos = 0

    def take(n: int) -> memoryview:
        nonlocal pos
        if pos + n > len(view):
            raise ConversionError("truncated CTranslate2 model file")
        out = view[pos : pos + n]
        pos += n
        return out

    def u8() -> int:
        return int(take(1)[0])

    def u16() -> int:
        return int(struct.unpack("<H", take(2))[0])

    def u32() -> int:
        return int(struct.unpack("<I", take(4))[0])

    def string() -> str:
        n = u16()
        return bytes(take(n))[:-1].decode("utf-8")

    version = u32()
    if version < 5 or version > 6:
        raise ConversionError(f"unsupported CTranslate2 binary version {version}")
    spec = string()
    revision = u32()
    variables: dict[str, npt.NDArray[np.generic]] = {}
    for _ in range(u32()):
        name = string()
        rank = u8()
        shape = tuple(u32() for _ in range(rank))
        dtype_id = u8()
        n_bytes = u32()
        data = take(n_bytes)
        if dtype_id not in _CT2_DTYPES:
            raise ConversionError(f"unsupported dtype {dtype_id} for {name}")
        arr = np.frombuffer(data, dtype=_CT2_DTYPES[dtype_id]).reshape(shape)
        variables[name] = arr
    aliases: dict[str, str] = {}
    if pos < len(view):
        for _ in range(u32()):
            alias = string()
            aliases[alias] = string()
    return Ct2Model(spec=spec, revision=revision, variables=variables, aliases=aliases)
