"""Property-based API fuzzing: every operation in the server's live OpenAPI schema, with generated
valid and invalid requests, must never answer 5xx and must answer what the schema declares.

Runs in-process against the ASGI app (schemathesis's ASGI transport), once on an open server and
once with auth on and an admin token, so every route gets past authentication to the store. Uses
schemathesis's Python API (``operation.as_strategy()`` under ``@given``) rather than its pytest
plugin, whose lazy-fixture loader does not work with pytest 9.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from shipyard.access import issue_token
from shipyard.config import Settings
from shipyard.entities import ModelVersionStatus, Role
from shipyard.exceptions import AlreadyExists
from shipyard.server import create_app
from shipyard.storage import _rest_protocol as proto
from shipyard.workspace import Workspace, build_workspace

CHECKS = [not_a_server_error, response_schema_conformance]
EXAMPLES = 40
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same cases on every run, so CI is reproducible
    deadline=None,
    database=None,
    # generated API requests are large and slow next to plain values; that is expected here
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                           HealthCheck.filter_too_much],
    print_blob=False,
)


def _seed(store: Any) -> dict[str, Any]:
    """Records for the fuzzer to hit: generated ids almost never exist, so without them every call
    would stop at "not found" before reaching the code behind it."""
    exp = store.create_experiment("fuzz", "fuzz-experiment")
    run_id = uuid.uuid4().hex
    store.create_run("fuzz", exp.id, run_id=run_id, name="r", start_time=1, artifact_uri="shipyard-artifacts:/fuzz/r")
    dataset = store.log_dataset("fuzz", name="d", digest="d" * 64, num_rows=1, schema={}, profile={})
    version = store.create_model_version(
        "fuzz", "fuzz-model", source="s", storage_uri="u", run_id=run_id, flavor="sklearn", manifest={},
        manifest_sha256="a" * 64, signature={}, status=ModelVersionStatus.READY,
    )
    store.create_user("fuzzer")
    token = issue_token(store, "fuzzer", "fuzz", Role.VIEWER)[0]
    return {"project": "fuzz", "experiment_id": exp.id, "run_id": run_id, "dataset_id": dataset.id,
            "name": "fuzz-model", "version": version.version, "user": "fuzzer", "token_id": token.id}


def _fuzz(schema: schemathesis.BaseSchema, headers: dict[str, str], known: dict[str, Any]) -> list[str]:
    """Fuzz every operation; the failures, one entry per operation. A field named like a seeded
    record is, in about half the cases, set to that record's id or name."""
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    served = {f"POST {proto.STORE_PREFIX}/{op}" for op in proto.operations()}
    served |= {f"POST {proto.ADMIN_PREFIX}/{op}" for op in proto.admin_operations()}
    assert served <= {op.label for op in operations}, "store operations missing from the OpenAPI schema"
    for operation in operations:
        strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

        @FUZZ
        @given(case=strategy, data=st.data())
        def check(case: schemathesis.Case, data: st.DataObject) -> None:
            if isinstance(case.body, dict):
                for key in sorted(case.body.keys() & known.keys()):
                    if data.draw(st.booleans()):
                        case.body[key] = known[key]
            case.call_and_validate(checks=CHECKS, headers=headers)

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collected, reported together below
            notes = "\n".join(getattr(exc, "__notes__", []))
            failures.append(f"{operation.label}: {type(exc).__name__}: {exc}\n{notes}")
    return failures


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = build_workspace(Settings(store_uri=f"sqlite:///{tmp_path / 'fuzz.db'}", artifact_uri=(tmp_path / "art").as_uri()))
    yield ws
    ws.close()


@pytest.mark.slow
def test_open_server_answers_every_request_without_a_server_error(workspace: Workspace) -> None:
    known = _seed(workspace.metadata)
    failures = _fuzz(schemathesis.openapi.from_asgi("/openapi.json", create_app(workspace)), {}, known)
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_auth_server_answers_every_admin_request_without_a_server_error(workspace: Workspace) -> None:
    known = _seed(workspace.metadata)
    workspace.metadata.create_user("root", is_admin=True)  # type: ignore[attr-defined]
    token = issue_token(workspace.metadata, "root", None, Role.ADMIN)[1]  # type: ignore[arg-type]
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(workspace, auth=True))
    failures = _fuzz(schema, {"Authorization": f"Bearer {token}"}, known)
    assert not failures, "\n\n".join(failures)


# -- what the fuzzer found, pinned (the store-level cases are in the conformance suite) ------------


def test_mlflow_call_without_a_name_is_a_400_and_leaves_no_stale_project(live_server: Any) -> None:
    """A refused create used to leave its new project's id cached after the rollback, so every later
    call in that project failed on a foreign key (500)."""
    headers = {"X-MLFLOW-WORKSPACE": f"fuzz-{uuid.uuid4().hex[:8]}"}
    with httpx.Client(base_url=f"{live_server.url}/api/2.0/mlflow", headers=headers) as http:
        refused = http.post("/experiments/create")
        assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "name must be a non-empty string" in refused.json()["message"]
        assert http.get("/registered-models/get").status_code == 400
        found = http.get("/experiments/search")
        assert found.status_code == 200 and [e["name"] for e in found.json()["experiments"]] == ["Default"]


def test_a_taken_token_id_is_already_exists(workspace: Workspace) -> None:
    store: Any = workspace.metadata
    store.create_user("ana")
    fields = {"token_id": "t1", "user": "ana", "salt": "s", "secret_hash": "h", "project": "p", "role": Role.VIEWER}
    store.create_token(**fields)
    with pytest.raises(AlreadyExists, match="token with id 't1' already exists"):
        store.create_token(**fields)
