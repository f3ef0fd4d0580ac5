"""The privacy audit (``GET /v1/audit/forget-me``, ``lumina events audit``): checks that prove
something on every install, without keeping the user's content.

For a live user: the key store is private, every user-content field in the log is sealed and
the read models are a SQLCipher file.
For a forgotten user, in addition: the keys are gone, nothing from before the forgetting
decrypts, and the read models hold nothing from before it. Given canary strings, every file
under the data dir is searched for them.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventsourcing.utils import resolve_topic

from luminad import protocol
from luminad.domain.content import encrypted_fields
from luminad.fingerprint import scan
from luminad.forget import Shredder
from luminad.keystore import is_sealed
from luminad.mapper import content_topics, iter_notifications
from luminad.sqlite import is_plain


class Auditor:
    """Runs the checks over the log, the key store, the read models and the files."""

    def __init__(
        self,
        shredder: Shredder,
        data_dir: Path,
        key_files: Sequence[Path],
        scanned: Sequence[Path] = (),
    ) -> None:
        self.shredder = shredder
        self.data_dir = data_dir
        #: Where the fingerprint scan looks (data, config and runtime dirs, the log).
        self.scanned = list(scanned) or [data_dir]
        #: Files that hold keys (the key file unless the OS keyring has them, the owner keys).
        self.key_files = list(key_files)

    def run(self, canaries: Sequence[str] = ()) -> protocol.Audit:
        position, forgotten = self.shredder.last_forgetting()
        checks = [
            self._key_store_private(),
            self._content_sealed(after=position),
            self._read_models_encrypted(),
        ]
        if position:
            checks += self._forgotten(position, list(forgotten["key_ids"]))
            checks.append(self._no_plaintext(forgotten))
        if canaries:
            checks.append(self._canaries(canaries))
        return protocol.Audit(ok=all(c.ok for c in checks), checks=checks)

    def _key_store_private(self) -> protocol.AuditCheck:
        """Key files readable and writable by their owner only, in a directory others cannot
        write to."""
        modes = [(p, 0o600) for p in self.key_files] + [
            (d, 0o755) for d in {p.parent for p in self.key_files}
        ]
        loose = [
            f"{p.name} {stat.S_IMODE(p.stat().st_mode):o}"
            for p, private in modes
            if p.exists() and stat.S_IMODE(p.stat().st_mode) & ~private
        ]
        names = ", ".join(p.name for p in self.key_files if p.exists())
        return protocol.AuditCheck(
            name="key_store_private",
            ok=not loose,
            detail=f"open to others: {', '.join(loose)}" if loose else f"{names}: mode 0600",
        )

    def _read_models_encrypted(self) -> protocol.AuditCheck:
        path = self.shredder.read.path
        plain = is_plain(path)
        return protocol.AuditCheck(
            name="read_models_encrypted",
            ok=not plain,
            detail=f"{path.name} is a plain SQLite file"
            if plain
            else f"{path.name}: SQLCipher, not readable without its key",
        )

    def _content_sealed(self, *, after: int) -> protocol.AuditCheck:
        """Every ``Encrypted`` field written since the last forgetting is sealed in the log."""
        mapper = self.shredder.mapper
        total = plain = 0
        for note in iter_notifications(
            self.shredder.recorder, topics=content_topics(), after=after
        ):
            total += 1
            raw = note.state
            if mapper.cipher:
                raw = mapper.cipher.decrypt(raw)
            if mapper.compressor:
                raw = mapper.compressor.decompress(raw)
            state = mapper.transcoder.decode(raw)
            fields = encrypted_fields(resolve_topic(note.topic))
            plain += any(name in state and not is_sealed(state[name]) for name in fields)
        return protocol.AuditCheck(
            name="events_encrypted",
            ok=plain == 0,
            detail=f"{total} events with user content, {plain} with a field in plain text",
        )

    def _forgotten(self, position: int, key_ids: list[str]) -> list[protocol.AuditCheck]:
        alive = self.shredder.alive(key_ids)
        total = readable = 0
        for note in iter_notifications(
            self.shredder.recorder, topics=content_topics(), stop=position
        ):
            total += 1
            try:
                readable += self.shredder.mapper.decode_state(note)[1]
            except Exception:  # undecodable data is unreadable too
                continue
        read = self.shredder.read
        rows, orphans = read.user_rows(before=position), read.orphan_vectors()
        return [
            protocol.AuditCheck(
                name="user_forgotten", ok=True, detail=f"forgotten at log position {position}"
            ),
            protocol.AuditCheck(
                name="keys_destroyed",
                ok=not alive,
                detail=f"{len(key_ids)} key(s) destroyed, {len(alive)} still in the key store",
            ),
            protocol.AuditCheck(
                name="events_unreadable",
                ok=readable == 0,
                detail=f"{total} events with user content before the forgetting, "
                f"{readable} decrypt",
            ),
            protocol.AuditCheck(
                name="read_models_purged",
                ok=rows == 0 and orphans == 0,
                detail=f"{rows} rows from before the forgetting, {orphans} orphan vectors",
            ),
        ]

    def _no_plaintext(self, forgotten: dict[str, Any]) -> protocol.AuditCheck:
        hashes = list(forgotten.get("fingerprints") or [])
        if not hashes:
            return protocol.AuditCheck(
                name="no_plaintext",
                ok=True,
                detail="no fingerprints kept (nothing to shred, or forgotten by an older version)",
            )
        files, hits = scan(self.scanned, str(forgotten["fingerprint_salt"]), hashes)
        return protocol.AuditCheck(
            name="no_plaintext",
            ok=not hits,
            detail=f"{len(hashes)} fingerprints of the shredded content, {files} files scanned, "
            + (f"found in {sorted(hits)}" if hits else "none found"),
        )

    def _canaries(self, canaries: Sequence[str]) -> protocol.AuditCheck:
        files, hits = scan_files(self.data_dir, canaries)
        return protocol.AuditCheck(
            name="canary_scan",
            ok=not hits,
            detail=f"{len(canaries)} canaries, {files} files scanned, "
            + (f"hits in {sorted(hits)}" if hits else "0 hits"),
        )


def scan_files(root: Path, canaries: Sequence[bytes | str]) -> tuple[int, dict[str, int]]:
    """Raw-byte search of every file under ``root``: (files scanned, hits per file name)."""
    needles = [c.encode() if isinstance(c, str) else c for c in canaries if c]
    overlap = max((len(n) for n in needles), default=1) - 1
    files, hits = 0, {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        files += 1
        count, tail = 0, b""
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                window = tail + chunk
                count += sum(window.count(n) for n in needles)
                tail = window[-overlap:] if overlap else b""
        if count:
            hits[path.name] = count
    return files, hits
