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


def host_facts(root: Path) -> dict[str, str]:
    """What a results section says about the machine and the checkout: ``machine`` (cores, CPU, RAM,
    OS), ``commit`` (short hash of ``root``'s HEAD) and ``dirty`` (" (with uncommitted changes under
    src/)" or "")."""
    import platform
    import subprocess

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                            check=False).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True, text=True,
                           check=False).stdout.strip()
    return {"machine": f"{os.cpu_count()} logical cores ({usable} usable by this process); {cpu}; "
                       f"{mem / 1024 / 1024:.1f} GiB RAM; {platform.platform()}",
            "commit": commit, "dirty": " (with uncommitted changes under src/)" if dirty else ""}
