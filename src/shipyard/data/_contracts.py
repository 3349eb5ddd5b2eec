"""Data contracts as versioned records in the metadata store: ``sy.data.save_contract(schema, "flights")``
stores the next version, ``sy.data.get_contract("flights")`` reads the latest (or ``version=``)."""

from __future__ import annotations

from shipyard.config import get_settings
from shipyard.data._schema import Schema
from shipyard.entities import ContractVersion
from shipyard.exceptions import InvalidParameter
from shipyard.workspace import current_workspace


def save_contract(schema: Schema, name: str, *, description: str | None = None,
                  project: str | None = None) -> ContractVersion:
    """Store ``schema`` as the next version of the contract ``name`` (1 for a new one)."""
    if not isinstance(schema, Schema):
        raise InvalidParameter(f"save_contract() stores a shipyard.data.Schema, got {type(schema).__name__}: build one "
                               "with sy.data.infer_schema(df) or Schema.load('contract.yaml').")
    store = current_workspace().metadata
    return store.create_contract_version(project or get_settings().project, name, schema.to_dict(),
                                         description=description)


def get_contract(name: str, version: int | None = None, *, project: str | None = None) -> Schema:
    """The contract ``name`` as a :class:`Schema` (the latest version unless ``version`` is given)."""
    record = current_workspace().metadata.get_contract(project or get_settings().project, name, version)
    return Schema.from_dict(dict(record.spec), source=f"contract {name!r} v{record.version}")


def list_contracts(*, project: str | None = None) -> list[ContractVersion]:
    """The latest version of every contract of the project."""
    return current_workspace().metadata.list_contracts(project or get_settings().project)
