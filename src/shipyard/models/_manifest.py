"""The package manifest (``MODEL.json``): what a model is, what it needs, and the sha256 of every
file. Loading verifies every hash *before* anything is unpickled. Optional Ed25519 signing."""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

from shipyard._internal._hashing import sha256_file
from shipyard.exceptions import ConfigError, IntegrityError, NotFound

MANIFEST = "MODEL.json"
FORMAT = "shipyard-model/1"


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` except the manifest, by relative POSIX path."""
    hashes = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            hashes[path.relative_to(root).as_posix()] = sha256_file(str(path))[0]
    return hashes


def write_manifest(root: Path, manifest: dict[str, Any]) -> str:
    """Write ``MODEL.json`` (canonical JSON) and return its sha256."""
    data = canonical(manifest)
    (root / MANIFEST).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def canonical(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()


def build(
    *, flavor: str, framework: str, framework_version: str | None, requirements: list[str],
    signature: dict[str, Any] | None, input_example: str | None, flavor_config: dict[str, Any], files: dict[str, str],
    shipyard_version: str, created_at: int, metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "flavor": flavor,
        "framework": {"name": framework, "version": framework_version},
        "python": platform.python_version(),
        "requirements": requirements,
        "signature": signature,
        "input_example": input_example,
        "flavor_config": flavor_config,
        "files": files,
        "shipyard_version": shipyard_version,
        "created_at": created_at,
        "metadata": metadata or {},
    }


def read_and_verify(root: Path, expected_sha256: str | None = None) -> tuple[dict[str, Any], str]:
    """Read the manifest and check every file's sha256 (and the manifest's own, when known).

    Raises:
        NotFound: ``root`` is not a model package (no ``MODEL.json``).
        IntegrityError: a file is missing, changed, or the manifest differs from the registered one.
    """
    path = root / MANIFEST
    if not path.is_file():
        raise NotFound(
            f"{root} is not a Shipyard model package: it has no {MANIFEST}. Log models with run.log_model(...) "
            "or sy.models.save_model(...)."
        )
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise IntegrityError(
            f"The manifest {path} has sha256 {digest}, but the registry recorded {expected_sha256}: the package "
            "was changed after registration. Refusing to load it."
        )
    try:
        manifest = json.loads(data)
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"The manifest {path} is not valid JSON ({exc}); the package is damaged.") from exc
    if manifest.get("format") != FORMAT:
        raise IntegrityError(f"{path} has format {manifest.get('format')!r}; this Shipyard reads {FORMAT!r}.")
    for rel, expected in manifest.get("files", {}).items():
        file = root / rel
        if not file.is_file():
            raise IntegrityError(f"Model file {rel!r} is missing from {root} (expected sha256 {expected}).")
        actual = sha256_file(str(file))[0]
        if actual != expected:
            raise IntegrityError(
                f"Model file {rel!r} in {root} was tampered with or corrupted: expected sha256 {expected}, got "
                f"{actual}. Refusing to load it."
            )
    return manifest, digest


# -- signing -----------------------------------------------------------------------------------------


def _crypto() -> Any:
    from shipyard._internal._lazy import require

    return require("cryptography.hazmat.primitives.asymmetric.ed25519", "signing", "Model signing")


def sign(manifest_sha256: str, private_key_path: str) -> str:
    """Ed25519 signature (hex) of a manifest digest with a PEM private key."""
    from cryptography.hazmat.primitives import serialization

    _crypto()
    key = serialization.load_pem_private_key(Path(private_key_path).read_bytes(), password=None)
    return key.sign(manifest_sha256.encode()).hex()  # type: ignore[union-attr, call-arg]


def verify_signature(manifest_sha256: str, signature_hex: str | None, public_key_path: str, what: str) -> None:
    """Raise ``IntegrityError`` unless ``signature_hex`` is a valid signature of the digest."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    _crypto()
    if not signature_hex:
        raise IntegrityError(
            f"{what} is not signed, and this platform only loads signed models (verify key configured). "
            "Register it on a platform configured with the signing key."
        )
    try:
        key = serialization.load_pem_public_key(Path(public_key_path).read_bytes())
        key.verify(bytes.fromhex(signature_hex), manifest_sha256.encode())  # type: ignore[union-attr, call-arg]
    except (InvalidSignature, ValueError) as exc:
        raise IntegrityError(f"{what} has an invalid signature: it was not produced by this platform.") from exc
    except FileNotFoundError as exc:
        raise ConfigError(f"The model verify key {public_key_path} does not exist.") from exc


def generate_keypair(private_path: str, public_path: str) -> None:
    """Write a new Ed25519 key pair as PEM files (``shipyard models keygen``)."""
    from cryptography.hazmat.primitives import serialization

    ed = _crypto()
    key = ed.Ed25519PrivateKey.generate()
    Path(private_path).write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    Path(public_path).write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
