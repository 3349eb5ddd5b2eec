"""bench/RESULTS.md is shared by the benchmarks: each replaces its own ``## `` section and keeps the rest."""

from __future__ import annotations

import os
from pathlib import Path


def write_section(path: Path, section: str, heading: str) -> None:
    """Replace the section that starts with ``heading`` (or append it), keeping every other section.
    The file is read just before writing, and replaced atomically."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else ["# Benchmark results"]
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    new = section.rstrip("\n").splitlines()
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *new]
    else:
        end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
        lines[start:end] = [*new, ""] if end < len(lines) else new
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
