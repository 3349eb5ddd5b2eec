"""The shape of DESIGN.md, kept true by tests: layers, public API, import cost, side effects,
the single reader of the environment, and module / function size limits."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import shipyard

SRC = Path(shipyard.__file__).parent

# Top-level module or subpackage → layer (DESIGN.md, "One picture").
LAYERS: dict[str, int] = {
    "exceptions": 0, "config": 0, "_internal": 0,
    "entities": 1,
    "storage": 2, "artifacts": 2, "online": 2, "executors": 2, "plugins": 2, "workspace": 2,
    "tracking": 3, "models": 3, "data": 3, "access": 3,
    "registry": 4, "features": 4, "pipelines": 4,
    "tuning": 5, "serving": 5, "monitoring": 5,
    "automation": 6,
    "cli": 7, "server": 7, "ui": 7, "testing": 7,
}
# Sideways edges allowed inside a layer (DESIGN.md), plus the L2 assembly of ports.
SIDEWAYS = {
    ("config", "exceptions"), ("_internal", "exceptions"),
    ("workspace", "plugins"), ("workspace", "storage"), ("workspace", "artifacts"),
    ("workspace", "online"), ("workspace", "executors"),
    ("tracking", "models"), ("registry", "tracking"), ("registry", "models"), ("features", "data"), ("pipelines", "tracking"),
    ("serving", "registry"), ("serving", "models"), ("serving", "features"), ("serving", "monitoring"),
    ("monitoring", "data"), ("monitoring", "registry"), ("server", "ui"),
}
ADAPTERS = {"storage._sql", "storage._rest", "artifacts._local", "artifacts._s3", "artifacts._rest", "online._sqlite", "online._redis", "executors._ray"}

PUBLIC_API = [
    "PythonModel", "Registry", "delete_alias", "lineage", "load_model", "models", "register_model", "registry",
    "set_alias", "deploy", "serving", "predictions", "monitor", "monitoring", "data",
    "features", "Entity", "FeatureView", "ParquetSource", "CsvSource", "SqlSource", "Aggregation", "on_demand",
    "ActiveRun", "Experiment", "Run", "RunStatus", "ShipyardError", "TrackingClient", "__version__",
    "active_run", "compare_runs", "connect", "create_experiment", "download_artifacts", "end_run", "flush",
    "get_metric_history", "get_run", "init", "list_experiments", "log_artifact", "log_dataset",
    "log_metric", "log_metrics", "log_param", "log_params", "search_runs", "set_project", "set_tag",
    "set_tags", "start_run",
]


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(["shipyard", *parts]), path))
    return found


def _imports(path: Path, module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, type-checking-only) for every shipyard import in a file."""
    tree = ast.parse(path.read_text(), str(path))
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in ast.walk(node):
                guarded.add(id(child))
    out = []
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in guarded) for a in node.names if a.name.split(".")[0] == "shipyard"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "shipyard":
                continue
            if base == "shipyard":
                out += [(f"shipyard.{a.name}", node.lineno, id(node) in guarded) for a in node.names]
            else:
                out.append((base, node.lineno, id(node) in guarded))
    return out


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_layer_rule() -> None:
    problems = []
    for module, path in _modules():
        src = _top(module)
        if src not in LAYERS:
            if module != "shipyard":
                problems.append(f"{module}: not in the layer table of DESIGN.md")
            continue
        for target, line, _typing in _imports(path, module):
            dst = _top(target)
            if dst == "" or dst == src:
                continue
            if dst not in LAYERS:
                problems.append(f"{module}:{line} imports {target}, which has no layer")
            elif LAYERS[dst] > LAYERS[src]:
                problems.append(f"{module}:{line} (L{LAYERS[src]}) imports {target} (L{LAYERS[dst]}): upward")
            elif LAYERS[dst] == LAYERS[src] and (src, dst) not in SIDEWAYS:
                problems.append(f"{module}:{line} imports sibling {target}: not an edge named in DESIGN.md")
    assert problems == []


def test_adapters_know_only_entities_their_port_and_foundation() -> None:
    problems = []
    for module, path in _modules():
        rel = module.removeprefix("shipyard.")
        adapter = next((a for a in ADAPTERS if rel == a or rel.startswith(a + ".")), None)
        if adapter is None:
            continue
        port = adapter.split(".")[0]
        for target, line, _typing in _imports(path, module):
            dst = _top(target)
            if dst in ("entities", "exceptions", "_internal", port):
                continue
            problems.append(f"{module}:{line} imports {target}")
    assert problems == []


def test_nothing_imports_the_root_facade() -> None:
    problems = []
    submodules = {m.split(".")[1] for m, _ in _modules() if m.count(".") >= 1}
    for module, path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "shipyard" for a in node.names):
                problems.append(f"{module}:{node.lineno}: import shipyard")
            if isinstance(node, ast.ImportFrom) and node.module == "shipyard" and node.level == 0:
                names = [a.name for a in node.names if a.name not in submodules]
                if names:
                    problems.append(f"{module}:{node.lineno}: from shipyard import {', '.join(names)}")
    assert problems == []


def test_public_api_is_pinned() -> None:
    assert sorted(shipyard.__all__) == sorted(PUBLIC_API)
    for name in shipyard.__all__:
        assert getattr(shipyard, name) is not None


def test_import_is_cheap() -> None:
    heavy = ["sqlalchemy", "alembic", "pandas", "numpy", "pyarrow", "fastapi", "starlette", "boto3", "s3fs",
             "psycopg", "redis", "ray", "torch", "sklearn", "typer", "rich", "pydantic"]
    code = f"import sys, shipyard; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.replace("'", '"')) == []


def test_importing_any_module_has_no_side_effects(tmp_path: Path) -> None:
    """Every module imports in a fresh interpreter whose network and file writes fail."""
    names = [m for m, _ in _modules() if ".migrations" not in m and not m.endswith("__main__")]
    script = f"""
import builtins, importlib, os, socket, pathlib
def refuse(*a, **k):
    raise RuntimeError("side effect at import: " + repr(a[:2]))
socket.socket.connect = refuse
real_open = builtins.open
def guarded_open(file, mode="r", *a, **k):
    if any(c in mode for c in "wax+"):
        refuse(file, mode)
    return real_open(file, mode, *a, **k)
builtins.open = guarded_open
os.makedirs = os.mkdir = pathlib.Path.mkdir = refuse
for name in {names!r}:
    importlib.import_module(name)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]


def test_config_is_the_only_reader_of_the_environment() -> None:
    offenders = []
    for module, path in _modules():
        if module == "shipyard.config":
            continue
        text = path.read_text()
        for needle in ("os.environ", "os.getenv", "getenv("):
            if needle in text:
                offenders.append(f"{module}: {needle}")
    assert offenders == []


@pytest.mark.parametrize(("limit_module", "limit_function"), [(800, 120)])
def test_module_and_function_size_limits(limit_module: int, limit_function: int) -> None:
    problems = []
    for module, path in _modules():
        lines = path.read_text().count("\n")
        if lines > limit_module:
            problems.append(f"{module}: {lines} lines (limit {limit_module})")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit_function:
                    problems.append(f"{module}.{node.name}: {length} lines (limit {limit_function})")
    assert problems == []


def test_package_ships_py_typed() -> None:
    assert (SRC / "py.typed").exists()


def test_interfaces_stay_small() -> None:
    """STYLE.md: an interface declares at most 10 abstract methods; a larger surface is split into
    role interfaces (MetadataStore is their union and declares only its own housekeeping)."""
    import abc
    import inspect

    from shipyard.artifacts import base as artifact_base
    from shipyard.storage import base as storage_base

    for module in (storage_base, artifact_base):
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, abc.ABC):
                continue
            own = [n for n, v in vars(cls).items() if getattr(v, "__isabstractmethod__", False)
                   or getattr(getattr(v, "fget", None), "__isabstractmethod__", False)]
            assert len(own) <= 10, f"{name} declares {len(own)} abstract methods: split it into role interfaces"
