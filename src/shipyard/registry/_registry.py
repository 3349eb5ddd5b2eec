"""``Registry``: register versions, move aliases (with history), resolve and load model URIs."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard._internal._time import to_ms
from shipyard._internal._uri import safe_relpath, scheme_of
from shipyard.entities import AliasEvent, ModelVersion, ModelVersionStatus, RegisteredModel
from shipyard.exceptions import IntegrityError, InvalidParameter, NotFound, ShipyardError
from shipyard.models import LoadedModel, load_model
from shipyard.models._manifest import MANIFEST, read_and_verify, sign, verify_signature
from shipyard.registry._uris import check_alias, parse
from shipyard.tracking import _environment
from shipyard.tracking import _validation as v
from shipyard.tracking._artifacts import store_for

if TYPE_CHECKING:
    from shipyard.workspace import Workspace


class Registry:
    """The model registry of one project. Thread-safe; cheap to create."""

    def __init__(self, workspace: Workspace, project: str | None = None) -> None:
        self.workspace = workspace
        self.project = v.name(project or workspace.settings.project, "Project")
        self.store = workspace.metadata

    # -- registration ------------------------------------------------------------------------
    def register_model(
        self, model_uri: str, name: str, *, description: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> ModelVersion:
        """Register the package at ``model_uri`` (``runs:/<id>/<path>`` or a local package
        directory) as the next version of ``name``. The version is READY once its manifest checks
        out against the stored file hashes (and is signed, when a signing key is configured)."""
        name = v.name(name, "Model")
        clean_tags = {v.key(k, "Tag"): v.tag_value(k, val) for k, val in (tags or {}).items()}
        ref = parse(model_uri)
        if ref.kind == "path":
            return self._register_local(Path(ref.path or ""), name, description, clean_tags)
        if ref.kind != "run":
            raise InvalidParameter(f"Register from a run (runs:/<id>/<path>) or a local package, not {model_uri!r}.")
        assert ref.run_id and ref.path
        try:
            run = self.store.get_run(ref.run_id)
        except NotFound:
            raise NotFound(f"Cannot register {model_uri}: no run {ref.run_id!r}. Find runs with `shipyard runs list`.") from None
        if run.project != self.project:
            raise NotFound(f"Cannot register {model_uri}: run {ref.run_id} is not in project {self.project!r}.")
        path = safe_relpath(ref.path, "model path")
        records = {r.path: r for r in self.store.list_artifacts(run.id, path)}
        manifest_record = records.get(f"{path}/{MANIFEST}")
        if manifest_record is None:
            raise NotFound(
                f"Cannot register {model_uri}: run {run.id} has no model package at {path!r} (no {MANIFEST}). "
                "Log one with run.log_model(model, name=...)."
            )
        with store_for(self.workspace, run.artifact_uri).open_reader(f"{path}/{MANIFEST}") as fh:
            raw = fh.read()
        if hashlib.sha256(raw).hexdigest() != manifest_record.sha256:
            raise IntegrityError(
                f"Cannot register {model_uri}: its {MANIFEST} does not match the sha256 recorded when it was logged "
                f"({manifest_record.sha256}); the package was changed."
            )
        manifest = json.loads(raw)
        problems = [
            f"{rel}: recorded {records[f'{path}/{rel}'].sha256 if f'{path}/{rel}' in records else 'nothing'}, manifest says {sha}"
            for rel, sha in manifest.get("files", {}).items()
            if f"{path}/{rel}" not in records or records[f"{path}/{rel}"].sha256 != sha
        ]
        # Every check needs only the records: the version is created READY (or FAILED) at once.
        key = self.workspace.settings.model_signing_key
        message = "The package does not match its manifest:\n" + "\n".join(problems) if problems else None
        version: ModelVersion = self.store.create_model_version(
            self.project, name, source=model_uri, storage_uri=f"{run.artifact_uri.rstrip('/')}/{path}", run_id=run.id,
            flavor=manifest.get("flavor", "unknown"), manifest=manifest, manifest_sha256=manifest_record.sha256,
            signature=manifest.get("signature") or {}, created_by=_environment.user(), description=description,
            tags=clean_tags, status=ModelVersionStatus.FAILED if problems else ModelVersionStatus.READY,
            status_message=message, package_signature=sign(manifest_record.sha256, key) if key and not problems else None,
        )
        if problems:
            raise IntegrityError(f"Registration of {version.name} version {version.version} failed. {message}")
        return version

    def _register_local(self, root: Path, name: str, description: str | None, tags: dict[str, str]) -> ModelVersion:
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise NotFound(f"{root} is not a model package (no {MANIFEST}). Save one with sy.models.save_model().")
        target = f"{self.project}/registry/{name}/{uuid.uuid4().hex}"
        artifacts = self.workspace.artifacts
        hashes = {}
        for child in sorted(root.rglob("*")):
            if child.is_file():
                rel = child.relative_to(root).as_posix()
                with open(child, "rb") as fh:
                    hashes[rel] = artifacts.write(f"{target}/{rel}", fh)[1]
        manifest = json.loads(manifest_path.read_bytes())
        version = self.store.create_model_version(
            self.project, name, source=str(root.resolve()), storage_uri=artifacts.uri_for(target), run_id=None,
            flavor=manifest.get("flavor", "unknown"), manifest=manifest, manifest_sha256=hashes[MANIFEST],
            signature=manifest.get("signature") or {}, created_by=_environment.user(), description=description, tags=tags,
        )
        problems = [f"{rel}: stored {hashes.get(rel)}, manifest says {sha}" for rel, sha in manifest.get("files", {}).items() if hashes.get(rel) != sha]
        return self._finish(version, problems)

    def _finish(self, version: ModelVersion, problems: list[str]) -> ModelVersion:
        if problems:
            message = "The package does not match its manifest:\n" + "\n".join(problems)
            self.store.update_model_version(self.project, version.name, version.version,
                                            status=ModelVersionStatus.FAILED, status_message=message)
            raise IntegrityError(f"Registration of {version.name} version {version.version} failed. {message}")
        key = self.workspace.settings.model_signing_key
        signature = sign(version.manifest_sha256, key) if key else None
        return self.store.update_model_version(  # type: ignore[no-any-return]
            self.project, version.name, version.version, status=ModelVersionStatus.READY, package_signature=signature
        )

    # -- reading -----------------------------------------------------------------------------
    def get_model(self, name: str) -> RegisteredModel:
        return self.store.get_registered_model(self.project, name)  # type: ignore[no-any-return]

    def search_models(self, name_like: str | None = None, tags: Mapping[str, str] | None = None, alias: str | None = None) -> list[RegisteredModel]:
        return self.store.search_registered_models(self.project, name_like, tags, alias)  # type: ignore[no-any-return]

    def get_version(self, name: str, version: int | str) -> ModelVersion:
        return self.resolve_version(f"models:/{name}/{version}")

    def search_versions(self, name: str | None = None, tags: Mapping[str, str] | None = None,
                        statuses: Sequence[ModelVersionStatus | str] | None = None, alias: str | None = None) -> list[ModelVersion]:
        found: list[ModelVersion] = self.store.search_model_versions(
            self.project, name, tags, [ModelVersionStatus(s) for s in statuses] if statuses else None
        )
        return [mv for mv in found if alias in mv.aliases] if alias else found

    def resolve_version(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names now.

        Raises:
            NotFound: no such model, version or alias.
        """
        ref = parse(uri)
        if ref.kind == "version":
            assert ref.name and ref.version is not None
            return self.store.get_model_version(self.project, ref.name, ref.version)  # type: ignore[no-any-return]
        if ref.kind == "alias":
            assert ref.name and ref.alias
            model = self.get_model(ref.name)
            if ref.alias not in model.aliases:
                known = ", ".join(f"@{a}" for a in sorted(model.aliases)) or "none"
                raise NotFound(f"Model {ref.name!r} has no alias @{ref.alias}. Its aliases: {known}.")
            return self.store.get_model_version(self.project, ref.name, model.aliases[ref.alias])  # type: ignore[no-any-return]
        if ref.kind == "latest":
            assert ref.name
            ready = self.search_versions(ref.name, statuses=[ModelVersionStatus.READY])
            if not ready:
                raise NotFound(f"Model {ref.name!r} has no READY version.")
            return ready[0]
        raise InvalidParameter(f"{uri!r} does not name a registered version; use models:/<name>/<version> or @<alias>.")

    # -- aliases -----------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int | str, reason: str | None = None,
                  actor: str | None = None) -> AliasEvent:
        """Point ``@alias`` at ``version`` atomically; the move is kept in the alias history, with
        ``actor`` (default: the local user) and ``reason``."""
        return self.store.set_alias(self.project, name, check_alias(alias), int(version),  # type: ignore[no-any-return]
                                    actor or _environment.user(), reason)

    def delete_alias(self, name: str, alias: str, reason: str | None = None) -> AliasEvent:
        return self.store.set_alias(self.project, name, check_alias(alias), None, _environment.user(), reason)  # type: ignore[no-any-return]

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        return self.store.alias_history(self.project, name, alias)  # type: ignore[no-any-return]

    def alias_at(self, name: str, alias: str, when: _dt.datetime | int | float) -> int | None:
        """The version ``@alias`` pointed to at ``when`` (a datetime; naive means UTC; or epoch ms),
        or ``None`` if it pointed nowhere then."""
        at = to_ms(when)
        version = None
        for event in self.alias_history(name, alias):
            if event.at > at:
                break
            version = event.version
        return version

    # -- life cycle --------------------------------------------------------------------------
    def archive_version(self, name: str, version: int | str) -> ModelVersion:
        """Archive a version (kept, no longer READY). Refused while an alias points to it."""
        return self.store.update_model_version(self.project, name, int(version), status=ModelVersionStatus.ARCHIVED)  # type: ignore[no-any-return]

    def update_version(self, name: str, version: int | str, *, description: str | None = None,
                       tags: Mapping[str, Any] | None = None) -> ModelVersion:
        clean = {v.key(k, "Tag"): v.tag_value(k, val) for k, val in (tags or {}).items()}
        return self.store.update_model_version(self.project, name, int(version), description=description, set_tags=clean)  # type: ignore[no-any-return]

    def update_model(self, name: str, *, description: str | None = None, tags: Mapping[str, Any] | None = None,
                     delete_tags: Sequence[str] = ()) -> RegisteredModel:
        clean = {v.key(k, "Tag"): v.tag_value(k, val) for k, val in (tags or {}).items()}
        return self.store.update_registered_model(self.project, name, description=description, set_tags=clean,  # type: ignore[no-any-return]
                                                  delete_tags=delete_tags)

    # -- loading -----------------------------------------------------------------------------
    def local_path(self, model_uri: str) -> tuple[Path, str | None, ModelVersion | None]:
        """A local directory holding the package (downloaded and cached when remote), the manifest
        sha256 it must have, and the version record (for ``models:/`` URIs)."""
        ref = parse(model_uri)
        if ref.kind == "path":
            return Path(ref.path or ""), None, None
        if ref.kind == "run":
            assert ref.run_id and ref.path
            run = self.store.get_run(ref.run_id)
            path = safe_relpath(ref.path, "model path")
            records = self.store.list_artifacts(run.id, path)
            manifest = next((r for r in records if r.path == f"{path}/{MANIFEST}"), None)
            if manifest is None:
                raise NotFound(f"{model_uri}: run {run.id} has no model package at {path!r}.")
            return self._materialize(f"{run.artifact_uri.rstrip('/')}/{path}", manifest.sha256), manifest.sha256, None
        version = self.resolve_version(model_uri)
        if version.manifest.get("format") == "mlflow":
            raise InvalidParameter(
                f"{version.uri} is an MLflow-format package (logged by the mlflow client, flavor {version.flavor}). "
                f"Load it with the mlflow client: mlflow.pyfunc.load_model('models:/{version.name}/{version.version}') "
                "with the tracking URI set to this Shipyard server.")
        if version.status not in (ModelVersionStatus.READY, ModelVersionStatus.ARCHIVED):
            raise InvalidParameter(f"{version.uri} is {version.status.value}: {version.status_message or 'not loadable'}.")
        verify_key = self.workspace.settings.model_verify_key
        if verify_key:
            verify_signature(version.manifest_sha256, version.package_signature, verify_key, version.uri)
        return self._materialize(version.storage_uri, version.manifest_sha256), version.manifest_sha256, version

    def _materialize(self, storage_uri: str, manifest_sha256: str) -> Path:
        if scheme_of(storage_uri) == "file":
            return Path(storage_uri.removeprefix("file://"))
        cache = Path(self.workspace.settings.home).expanduser().absolute() / "cache" / "models" / manifest_sha256
        if (cache / MANIFEST).is_file():
            return cache
        store = store_for(self.workspace, storage_uri)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=cache.parent))
        try:
            for rel in store.list(""):
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with store.open_reader(rel) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1024 * 1024)
            tmp.rename(cache)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (cache / MANIFEST).is_file():
                raise
        return cache

    def load_model(self, model_uri: str, *, extra: str = "drop", form: str = "native") -> LoadedModel:
        """Load a model by URI, verifying every file's sha256 (and the signature, if configured)
        before anything is unpickled. ``form="onnx"`` loads the version's proven ONNX form."""
        root, digest, version = self.local_path(model_uri)
        if form == "onnx":
            from shipyard.registry._onnx import load_onnx_form

            if version is None:
                raise InvalidParameter("The ONNX form belongs to a registered version: load models:/<name>/<version>.")
            return load_onnx_form(self, version, root, extra)
        if form != "native":
            raise InvalidParameter(f"form must be 'native' or 'onnx', got {form!r}.")
        try:
            return load_model(root, expected_sha256=digest, extra=extra)
        except ShipyardError as exc:
            if version is not None and isinstance(exc, IntegrityError):
                raise IntegrityError(f"{version.uri}: {exc}") from exc
            raise

    def download(self, model_uri: str, dest: str | Path) -> Path:
        """Copy a verified package to ``dest`` (a new directory)."""
        root, digest, _version = self.local_path(model_uri)
        read_and_verify(root, digest)
        target = Path(dest)
        shutil.copytree(root, target, dirs_exist_ok=False)
        return target

