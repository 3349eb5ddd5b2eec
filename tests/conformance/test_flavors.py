"""The flavor conformance suite against every built-in flavor."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.testing import FlavorSuite
from tests.unit.models import _roundtrip_child as recipes


def _make(recipe: str) -> tuple[Any, Any]:
    model, x = recipes.build(recipe)
    return model, x


class TestSklearn(FlavorSuite):
    flavor_name = "sklearn"

    @pytest.fixture
    def model_and_input(self) -> tuple[Any, Any]:
        return _make("sklearn")


class TestXGBoost(FlavorSuite):
    flavor_name = "xgboost"

    @pytest.fixture(params=["xgboost", "xgboost-booster"])
    def model_and_input(self, request: pytest.FixtureRequest) -> tuple[Any, Any]:
        return _make(request.param)


class TestLightGBM(FlavorSuite):
    flavor_name = "lightgbm"

    @pytest.fixture(params=["lightgbm", "lightgbm-booster"])
    def model_and_input(self, request: pytest.FixtureRequest) -> tuple[Any, Any]:
        return _make(request.param)


class TestPyTorch(FlavorSuite):
    flavor_name = "pytorch"

    @pytest.fixture(params=["pytorch", "pytorch-traced"])
    def model_and_input(self, request: pytest.FixtureRequest) -> tuple[Any, Any]:
        return _make(request.param)


class TestOnnx(FlavorSuite):
    flavor_name = "onnx"

    @pytest.fixture
    def model_and_input(self) -> tuple[Any, Any]:
        return _make("onnx")


class TestPython(FlavorSuite):
    flavor_name = "python"

    @pytest.fixture
    def model_and_input(self) -> tuple[Any, Any]:
        import shipyard as sy

        class Doubler(sy.PythonModel):
            def predict(self, inputs: Any) -> Any:
                return (inputs["temp"] * 2).to_numpy()

        return Doubler(), recipes.data()
