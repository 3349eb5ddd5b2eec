"""``FlavorSuite``: what every model flavor must do (in-process; the project's own tests also round
trip each flavor through a fresh process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shipyard.exceptions import IntegrityError
from shipyard.models import get_flavor, load_model, save_model
from shipyard.models._manifest import MANIFEST, read_and_verify


class FlavorSuite:
    """Subclass and override ``model_and_input`` to return ``(model, input batch)`` and set
    ``flavor_name``."""

    flavor_name: str = ""

    @pytest.fixture
    def model_and_input(self) -> tuple[Any, Any]:
        raise NotImplementedError("Override `model_and_input` to return (model, input batch).")

    def test_detected_saved_and_loaded_with_identical_predictions(self, model_and_input: tuple[Any, Any], tmp_path: Path) -> None:
        model, batch = model_and_input
        manifest, _digest = save_model(model, tmp_path / "pkg", input_example=batch[:5])
        assert manifest["flavor"] == self.flavor_name
        loaded = load_model(tmp_path / "pkg")
        first = np.asarray(loaded.predict(batch))
        again = np.asarray(load_model(tmp_path / "pkg").predict(batch))
        assert len(first) == len(batch) and np.array_equal(first, again)

    def test_manifest_covers_every_file(self, model_and_input: tuple[Any, Any], tmp_path: Path) -> None:
        model, batch = model_and_input
        save_model(model, tmp_path / "pkg", input_example=batch[:5])
        on_disk = {p.relative_to(tmp_path / "pkg").as_posix() for p in (tmp_path / "pkg").rglob("*") if p.is_file()}
        manifest, _ = read_and_verify(tmp_path / "pkg")
        assert set(manifest["files"]) == on_disk - {MANIFEST}
        assert manifest["framework"]["version"] == get_flavor(self.flavor_name).framework_version()

    def test_any_changed_file_is_refused(self, model_and_input: tuple[Any, Any], tmp_path: Path) -> None:
        model, batch = model_and_input
        manifest, _ = save_model(model, tmp_path / "pkg", input_example=batch[:5])
        for rel in manifest["files"]:
            target = tmp_path / "pkg" / rel
            original = target.read_bytes()
            target.write_bytes(original + b"\0")
            with pytest.raises(IntegrityError, match=rel):
                load_model(tmp_path / "pkg")
            target.write_bytes(original)
        load_model(tmp_path / "pkg")
