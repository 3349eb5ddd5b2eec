"""Artifacts on a local filesystem (``file://``): temp file in the same folder, fsync, rename."""

from __future__ import annotations

import builtins
import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from shipyard._internal._hashing import CHUNK
from shipyard._internal._uri import file_uri_to_path, safe_relpath
from shipyard.artifacts.base import ArtifactStore
from shipyard.exceptions import NotFound

TMP_MARK = ".shipyard-tmp-"


class LocalArtifactStore(ArtifactStore):
    def __init__(self, root_uri: str) -> None:
        self.root = Path(file_uri_to_path(root_uri))
        self.root_uri = self.root.as_uri()

    def _abs(self, path: str) -> Path:
        return self.root / safe_relpath(path)

    def write(self, path: str, source: BinaryIO | bytes) -> tuple[int, str]:
        target = self._abs(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f"{TMP_MARK}{uuid.uuid4().hex}-{target.name}"
        digest = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as out:
                if isinstance(source, (bytes, bytearray, memoryview)):
                    data = bytes(source)
                    out.write(data)
                    digest.update(data)
                    size = len(data)
                else:
                    while True:
                        block = source.read(CHUNK)
                        if not block:
                            break
                        out.write(block)
                        digest.update(block)
                        size += len(block)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return size, digest.hexdigest()

    def open_reader(self, path: str) -> BinaryIO:
        target = self._abs(path)
        try:
            return open(target, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"No artifact at {self.uri_for(safe_relpath(path))}.") from None

    def list(self, prefix: str = "") -> list[str]:
        base = self._abs(prefix) if prefix else self.root
        if base.is_file():
            return [base.relative_to(self.root).as_posix()]
        if not base.is_dir():
            return []
        found = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(TMP_MARK):
                    continue
                found.append((Path(dirpath) / name).relative_to(self.root).as_posix())
        return sorted(found)

    def sizes(self, prefix: str = "") -> dict[str, int]:
        return {p: (self.root / p).stat().st_size for p in self.list(prefix)}

    def delete(self, prefix: str) -> int:
        target = self._abs(prefix) if prefix else self.root
        if target.is_file():
            target.unlink()
            return 1
        if target.is_dir():
            count = sum(len(files) for _d, _s, files in os.walk(target))
            shutil.rmtree(target)
            return count
        return 0

    def temporaries(self) -> builtins.list[Path]:
        """Leftover temporary files of interrupted writes (``shipyard store gc`` removes old ones)."""
        return [p for p in self.root.rglob(f"{TMP_MARK}*") if p.is_file()] if self.root.exists() else []
