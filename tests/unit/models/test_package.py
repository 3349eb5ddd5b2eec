"""Model packages: manifest, integrity before unpickling, signatures, framework checks."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from shipyard.exceptions import ConfigError, ContractViolation, IntegrityError, InvalidParameter, NotFound
from shipyard.models import FrameworkVersionWarning, enforce, infer_signature, load_model, save_model
from shipyard.models._manifest import MANIFEST

from ._roundtrip_child import data, label, numeric


@pytest.fixture
def package(tmp_path: Path) -> tuple[Path, LogisticRegression, pd.DataFrame]:
    x = numeric(data())
    model = LogisticRegression(max_iter=1000).fit(x, label(data()))
    save_model(model, tmp_path / "pkg", input_example=x[:5])
    return tmp_path / "pkg", model, x


def test_manifest_describes_the_package(package: tuple[Path, LogisticRegression, pd.DataFrame]) -> None:
    root, _model, _x = package
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["flavor"] == "sklearn" and manifest["framework"]["name"] == "scikit-learn"
    assert manifest["framework"]["version"] and manifest["python"]
    assert any(r.startswith("scikit-learn==") for r in manifest["requirements"])
    assert set(manifest["files"]) == {"model.pkl", "input_example.json", "requirements.txt"}
    assert all(len(h) == 64 for h in manifest["files"].values())
    cols = manifest["signature"]["inputs"]["columns"]
    assert [c["name"] for c in cols] == ["distance", "dep_hour", "temp"] and cols[0]["dtype"] == "float64"
    assert manifest["signature"]["outputs"]["dtype"] == "int64"
    assert (root / "requirements.txt").read_text().splitlines() == manifest["requirements"]


def test_prediction_inputs_in_every_shape(package: tuple[Path, LogisticRegression, pd.DataFrame]) -> None:
    root, model, x = package
    loaded = load_model(root)
    expected = model.predict(x)
    assert np.array_equal(loaded.predict(x), expected)
    assert np.array_equal(loaded.predict(x.to_dict("records")), expected)
    assert np.array_equal(loaded.predict({c: x[c].tolist() for c in x.columns}), expected)
    assert np.array_equal(loaded.predict(x.to_numpy()), expected)
    assert loaded.predict(x.iloc[0].to_dict()).shape == (1,)
    assert loaded.input_example().shape == (5, 3)


def test_tampered_file_is_refused_before_unpickling(package: tuple[Path, LogisticRegression, pd.DataFrame], tmp_path: Path) -> None:
    root, _m, _x = package
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.write_text, (marker, "code ran"))

    (root / "model.pkl").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(IntegrityError, match="'model.pkl'.*tampered"):
        load_model(root)
    assert not marker.exists()


def test_missing_file_and_missing_manifest(package: tuple[Path, LogisticRegression, pd.DataFrame], tmp_path: Path) -> None:
    root, _m, _x = package
    (root / "requirements.txt").unlink()
    with pytest.raises(IntegrityError, match="'requirements.txt' is missing"):
        load_model(root)
    (root / MANIFEST).unlink()
    with pytest.raises(NotFound, match="not a Shipyard model package"):
        load_model(root)


def test_registered_manifest_digest_is_enforced(package: tuple[Path, LogisticRegression, pd.DataFrame]) -> None:
    root, _m, _x = package
    with pytest.raises(IntegrityError, match="changed after registration"):
        load_model(root, expected_sha256="0" * 64)


def _edit_manifest(root: Path, **changes: object) -> None:
    manifest = json.loads((root / MANIFEST).read_text())
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            manifest[section][field] = value
        else:
            manifest[section] = value
    (root / MANIFEST).write_text(json.dumps(manifest))


def test_unknown_flavor(package: tuple[Path, LogisticRegression, pd.DataFrame]) -> None:
    root, _m, _x = package
    _edit_manifest(root, flavor="tensorflow")
    with pytest.raises(InvalidParameter, match="Unknown model flavor 'tensorflow'. Known flavors: python, onnx"):
        load_model(root)


def test_framework_version_mismatch_warns_with_both_versions(package: tuple[Path, LogisticRegression, pd.DataFrame]) -> None:
    root, _m, _x = package
    _edit_manifest(root, framework__version="0.24.2")
    with pytest.warns(FrameworkVersionWarning, match=r"scikit-learn 0\.24\.2, but 1\.") as record:
        load_model(root)
    assert len(record) == 1


def test_missing_framework_names_the_extra(package: tuple[Path, LogisticRegression, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    root, _m, _x = package
    from shipyard.models.flavors import get_flavor

    monkeypatch.setattr(type(get_flavor("sklearn")), "framework", "scikit-learn-not-installed")
    with pytest.raises(ConfigError, match=r"pip install 'shipyard-mlops\[demo\]'"):
        load_model(root)


def test_signature_enforcement_lists_every_problem(package: tuple[Path, LogisticRegression, pd.DataFrame]) -> None:
    root, _m, x = package
    loaded = load_model(root)
    bad = x.drop(columns=["temp"]).assign(distance="far", extra=1)
    with pytest.raises(ContractViolation) as info:
        loaded.predict(bad)
    text = str(info.value)
    assert "- temp: missing" in text and "- distance: has dtype" in text and "2 problem(s)" in text
    loaded.extra = "error"
    with pytest.raises(ContractViolation, match="- extra: unexpected column"):
        loaded.predict(x.assign(extra=1))
    loaded.extra = "drop"
    assert len(loaded.predict(x.assign(extra=1))) == len(x)


def test_safe_casts() -> None:
    sig = infer_signature(pd.DataFrame({"i": [1, 2], "f": [0.5, 1.5], "s": ["a", "b"], "b": [True, False]}))
    ok = enforce(pd.DataFrame({"i": [1.0, 2.0], "f": [1, 2], "s": ["x", "y"], "b": [False, True]}), sig)
    assert str(ok["i"].dtype) == "int64" and str(ok["f"].dtype) == "float64"
    with pytest.raises(ContractViolation, match="non-integral"):
        enforce(pd.DataFrame({"i": [1.5, 2.0], "f": [1.0, 2.0], "s": ["x", "y"], "b": [True, True]}), sig)
    with pytest.raises(ContractViolation, match="missing or infinite"):
        enforce(pd.DataFrame({"i": [np.nan, 2.0], "f": [1.0, 2.0], "s": ["x", "y"], "b": [True, True]}), sig)
    with pytest.raises(ContractViolation, match="cannot cast integer → string"):
        enforce(pd.DataFrame({"i": [1, 2], "f": [1.0, 2.0], "s": [1, 2], "b": [True, True]}), sig)
    tensor = infer_signature(np.zeros((2, 3), dtype="float32"))
    assert enforce([[1, 2, 3]], tensor).dtype == np.float32
    with pytest.raises(ContractViolation, match="dimension 1 is 2, expects 3"):
        enforce([[1, 2]], tensor)


def test_no_flavor_for_unknown_objects(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="PythonModel"):
        save_model(object(), tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(InvalidParameter, match="not empty"):
        save_model(LogisticRegression(), tmp_path / "full")


def test_warnings_are_not_raised_on_a_clean_load(package: tuple[Path, LogisticRegression, pd.DataFrame]) -> None:
    root, _m, _x = package
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(root)
