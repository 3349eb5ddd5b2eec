"""The plain FastAPI anchor of bench/serving/run.py: the simplest honest serving app.

    BENCH_MODEL_PICKLE=model.pkl uvicorn --app-dir bench/serving _fastapi_app:app --workers 1

It unpickles the same fitted scikit-learn / LightGBM estimator that Shipyard and `mlflow models serve`
serve, takes a JSON list of rows (``[[x0, x1, ...], ...]``, validated by FastAPI as
``list[list[float]]``), builds a numpy array and returns ``{"predictions": model.predict(array)}``.
No validation against a signature, no metrics, no auth, no logging: what a team writes in ten minutes.
The endpoint is a plain ``def`` (FastAPI runs it in its thread pool), as FastAPI's documentation
advises for blocking calls such as ``predict``.
"""

from __future__ import annotations

import os
import pickle
import warnings
from typing import Any

import numpy as np
from fastapi import FastAPI

# The estimators were fitted on DataFrames; an array in is what this app is about.
warnings.filterwarnings("ignore", message="X does not have valid feature names")

with open(os.environ["BENCH_MODEL_PICKLE"], "rb") as f:
    model = pickle.load(f)  # noqa: S301 - our own file, written by run.py

app = FastAPI()


@app.get("/ping")
def ping() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
def predict(rows: list[list[float]]) -> Any:
    return {"predictions": model.predict(np.asarray(rows, dtype=np.float64)).tolist()}
