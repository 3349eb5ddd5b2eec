"""Definitions in and out of the metadata store: load a features module, plan (what would change, with a
diff), apply (one transaction), and resolve feature references (``"view:feature"``) against the
applied definitions."""

from __future__ import annotations

import difflib
import importlib.util
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.config import get_settings
from shipyard.entities import FeatureDefinition
from shipyard.exceptions import InvalidParameter, NotFound
from shipyard.features._definitions import (
    Definition,
    Entity,
    FeatureView,
    OnDemandFeatureView,
    definition_from_record,
    record_of,
)
from shipyard.workspace import current_workspace

if TYPE_CHECKING:
    from shipyard.storage.base import MetadataStore

DEFAULT_MODULES = ("features.py", "features")


def load_module(path: str | Path | None = None) -> list[Definition]:
    """Every entity, feature view and on-demand view defined at the top level of a features module
    (a ``.py`` file or a package folder; default: ``features.py`` or ``features/`` here)."""
    if path is None:
        found = next((Path(p) for p in DEFAULT_MODULES if Path(p).exists()), None)
        if found is None:
            raise InvalidParameter(f"No features module here ({Path.cwd()}): write features.py (or a features/ "
                                   "package) defining sy.Entity and sy.FeatureView objects, or pass --path.")
        path = found
    target = Path(path)
    file = target / "__init__.py" if target.is_dir() else target
    if not file.is_file():
        raise InvalidParameter(f"No features module at {target}: give a .py file or a package folder.")
    name = f"shipyard_features_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, file, submodule_search_locations=[str(target)]
                                                  if target.is_dir() else None)
    if spec is None or spec.loader is None:
        raise InvalidParameter(f"Cannot import the features module {file}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except InvalidParameter:
        raise
    except Exception as exc:
        raise InvalidParameter(f"The features module {file} failed to import: {type(exc).__name__}: {exc}") from exc
    found_defs = [v for v in vars(module).values() if isinstance(v, (Entity, FeatureView, OnDemandFeatureView))]
    return collect(found_defs)


def collect(definitions: Iterable[Definition]) -> list[Definition]:
    """Definitions with the entities of every view added, checked for clashing names."""
    out: dict[tuple[str, str], Definition] = {}
    for item in definitions:
        items: list[Definition] = [*item.entities, item] if isinstance(item, FeatureView) else [item]
        for d in items:
            if not isinstance(d, (Entity, FeatureView, OnDemandFeatureView)):
                raise InvalidParameter(f"apply() takes sy.Entity, sy.FeatureView and on-demand views, got "
                                       f"{type(d).__name__}.")
            key = (d.kind, d.name)
            if key in out and out[key].spec() != d.spec():
                raise InvalidParameter(f"Two different {d.kind.replace('_', ' ')}s are named {d.name!r}; rename one.")
            out[key] = d
    return list(out.values())


@dataclass
class Change:
    kind: str
    name: str
    action: str  # added | changed | removed | unchanged
    version: int | None = None
    diff: list[str] = field(default_factory=list)


@dataclass
class Plan:
    changes: list[Change]

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"]

    def summary(self) -> str:
        counts = {a: sum(c.action == a for c in self.changes) for a in ("added", "changed", "removed", "unchanged")}
        return ", ".join(f"{n} {a}" for a, n in counts.items())


def _pretty(spec: Any) -> list[str]:
    shown = {k: v for k, v in dict(spec).items() if k != "pickle"}
    return json.dumps(shown, indent=2, sort_keys=True, default=str).splitlines()


def _live(project: str) -> dict[tuple[str, str], FeatureDefinition]:
    store = current_workspace().metadata
    return {(d.kind, d.name): d for d in store.list_feature_definitions(project)}


def plan(definitions: Sequence[Definition], *, project: str | None = None, prune: bool = True) -> Plan:
    """What :func:`apply` would change: each definition added, changed (with a unified diff of its
    spec), removed (applied before, not defined now; only with ``prune``) or unchanged."""
    project = project or get_settings().project
    live = _live(project)
    changes = []
    local = {(d.kind, d.name): record_of(d) for d in collect(definitions)}
    for key, record in sorted(local.items()):
        old = live.get(key)
        if old is None:
            changes.append(Change(key[0], key[1], "added", diff=[f"+{line}" for line in _pretty(record["spec"])]))
        elif old.digest != record["digest"]:
            diff = list(difflib.unified_diff(_pretty(old.spec), _pretty(record["spec"]), f"v{old.version}", "local",
                                             lineterm="", n=2))
            changes.append(Change(key[0], key[1], "changed", old.version, diff))
        else:
            changes.append(Change(key[0], key[1], "unchanged", old.version))
    if prune:
        for key, old in sorted(live.items()):
            if key not in local:
                changes.append(Change(key[0], key[1], "removed", old.version))
    return Plan(changes)


def apply(definitions: Sequence[Definition], *, project: str | None = None, prune: bool = False) -> list[FeatureDefinition]:
    """Record ``definitions`` (and the entities their views name) as versioned records, in one
    transaction; unchanged ones add no version. With ``prune``, definitions applied before but not
    given now are marked deleted. Returns the versions written."""
    project = project or get_settings().project
    defs = collect(definitions)
    _check_references(defs, project)
    records = [record_of(d) for d in defs]
    remove: list[list[str]] = []
    if prune:
        local = {(r["kind"], r["name"]) for r in records}
        remove = [[k, n] for (k, n) in _live(project) if (k, n) not in local]
    return current_workspace().metadata.apply_feature_definitions(project, records, remove=remove)


def _check_references(defs: Sequence[Definition], project: str) -> None:
    views = {d.name: d for d in defs if isinstance(d, FeatureView)}
    for d in defs:
        if not isinstance(d, OnDemandFeatureView):
            continue
        for ref in d.inputs:
            view, _, feature = ref.partition(":")
            known: FeatureView | OnDemandFeatureView | None = views.get(view)
            if known is None:
                try:
                    known = get_view(view, project=project)
                except NotFound:
                    raise InvalidParameter(f"On-demand view {d.name!r} reads {ref!r}, but no feature view {view!r} is "
                                           "defined or applied.") from None
            if feature not in known.feature_types:
                raise InvalidParameter(f"On-demand view {d.name!r} reads {ref!r}, but {view!r} has no feature "
                                       f"{feature!r} (it has {sorted(known.feature_types)}).")


def get_view(name: str, *, project: str | None = None, version: int | None = None) -> FeatureView | OnDemandFeatureView:
    """An applied feature view as a Python object."""
    record = current_workspace().metadata.get_feature_definition(project or get_settings().project, "feature_view",
                                                                 name, version)
    view = definition_from_record("feature_view", name, record.spec)
    assert isinstance(view, (FeatureView, OnDemandFeatureView))
    return view


@dataclass
class Selected:
    """One view of a retrieval: which of its features, under which output names, at which version."""

    view: FeatureView | OnDemandFeatureView
    version: int
    features: list[str]
    outputs: list[str]


def resolve(refs: Sequence[str], *, project: str | None = None, full_names: bool = False,
            store: MetadataStore | None = None) -> list[Selected]:
    """Feature references (``"view:feature"``, ``"view:*"``) → the applied views, in order of first
    mention; the on-demand views' inputs are added to the plain views they read."""
    project = project or get_settings().project
    if isinstance(refs, str) or not refs:
        raise InvalidParameter("features= takes a list of 'view:feature' references, e.g. ['origin_weather:temp'].")
    store = store or current_workspace().metadata
    chosen: dict[str, Selected] = {}

    def select(ref: str) -> None:
        view_name, sep, feature = ref.partition(":")
        if not sep or not view_name or not feature:
            raise InvalidParameter(f"Feature reference {ref!r} is not 'view:feature' (or 'view:*').")
        if view_name not in chosen:
            record = store.get_feature_definition(project, "feature_view", view_name)
            view = definition_from_record("feature_view", view_name, record.spec)
            assert isinstance(view, (FeatureView, OnDemandFeatureView))
            chosen[view_name] = Selected(view, record.version, [], [])
            if isinstance(view, OnDemandFeatureView):
                for inner in view.inputs:
                    select(inner)
        sel = chosen[view_name]
        names = list(sel.view.feature_types) if feature == "*" else [feature]
        for name in names:
            if name not in sel.view.feature_types:
                close = difflib.get_close_matches(name, list(sel.view.feature_types), n=3)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise InvalidParameter(f"Feature view {view_name!r} has no feature {name!r}.{hint} It has "
                                       f"{sorted(sel.view.feature_types)}.")
            if name not in sel.features:
                sel.features.append(name)
                sel.outputs.append(f"{view_name}__{name}" if full_names else name)

    for ref in refs:
        select(ref)
    outputs = [o for s in chosen.values() for o in s.outputs]
    clash = sorted({o for o in outputs if outputs.count(o) > 1})
    if clash:
        raise InvalidParameter(f"Features {clash} come from more than one view: pass full_names=True to name the "
                               "columns 'view__feature'.")
    return list(chosen.values())


def visible_columns(refs: Sequence[str], selected: Sequence[Selected], full_names: bool = False) -> list[str]:
    """The output columns the caller asked for (an on-demand view's inputs it did not ask for are not)."""
    out: list[str] = []
    by_name = {s.view.name: s for s in selected}
    for ref in refs:
        view_name, _, feature = ref.partition(":")
        sel = by_name[view_name]
        names = list(sel.view.feature_types) if feature == "*" else [feature]
        for name in names:
            column = f"{view_name}__{name}" if full_names else name
            if column not in out:
                out.append(column)
    return out
