"""The privacy audit (``GET /v1/audit/forget-me``, ``lumina events audit``): checks that prove
something on every install, without keeping the user's content.

For a live user: the key store is private and every user-content field in the log is sealed.
For a forgotten user, in addition: the keys are gone, nothing from before the forgetting
decrypts, and the read models hold nothing from before it. Given canary strings, every file
under the data dir is searched for them.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path

from eventsourcing.utils import resolve_topic

from luminad import protocol
from luminad.domain.content import encrypted_fields
from luminad.forget import Shredder
from luminad.keystore import is_sealed
from luminad.mapper import content_topics, iter_notifications


class Auditor:
    """Runs the checks over the log, the key store, the read models and the files."""

    def __init__(self, shredder: Shredder, data_dir: Path, keys_path: Path | None) -> None:
        self.shredder = shredder
        self.data_dir = data_dir
        #: The key file (None when keys live in the OS keyring).
        self.keys_path = keys_path

    def run(self, canaries: Sequence[str] = ()) -> protocol.Audit:
        position, key_ids = self.shredder.last_forgetting()
        checks = [self._key_store_private(), self._content_sealed(after=position)]
        if position:
            checks += self._forgotten(position, key_ids)
        if canaries:
            checks.append(self._canaries(canaries))
        return protocol.Audit(ok=all(c.ok for c in checks), checks=checks)

    def _key_store_private(self) -> protocol.AuditCheck:
        if self.keys_path is None:
            return protocol.AuditCheck(
                name="key_store_private", ok=True, detail="keys are in the OS keyring"
            )
        loose = [
            f"{p.name} {stat.S_IMODE(p.stat().st_mode):o}"
            for p, private in ((self.keys_path, 0o600), (self.keys_path.parent, 0o700))
            if p.exists() and stat.S_IMODE(p.stat().st_mode) & ~private
        ]
        return protocol.AuditCheck(
            name="key_store_private",
            ok=not loose,
            detail=f"readable by others: {', '.join(loose)}"
            if loose
            else f"{self.keys_path.name} is 0600 in a 0700 directory",
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
