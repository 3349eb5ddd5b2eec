"""Builds, logs and registers one model per flavor (``save``), or loads one by URI (``load``), in a
process of its own; predictions go to .npy files the test compares."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def data(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "distance": rng.integers(100, 3000, n),
        "dep_hour": rng.integers(5, 23, n).astype("int64"),
        "temp": rng.normal(15, 8, n),
        "carrier": rng.choice(["UA", "AA", "DL", "B6"], n),
    })


def label(x: pd.DataFrame) -> np.ndarray:
    return ((x["dep_hour"] > 16) ^ (x["temp"] < 5) | (x["carrier"] == "B6")).astype(int).to_numpy()


def numeric(x: pd.DataFrame) -> pd.DataFrame:
    return x[["distance", "dep_hour", "temp"]].astype("float64")


def build(flavor: str):  # noqa: C901 - one recipe per flavor
    import shipyard as sy

    x = data()
    y = label(x)
    if flavor == "sklearn":
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["carrier"]),
                                 ("num", StandardScaler(), ["distance", "dep_hour", "temp"])])
        model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=1000))]).fit(x, y)
        return model, x
    if flavor == "xgboost":
        import xgboost as xgb

        return xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(numeric(x), y), numeric(x)
    if flavor == "xgboost-booster":
        import xgboost as xgb

        booster = xgb.train({"max_depth": 3, "objective": "binary:logistic"}, xgb.DMatrix(numeric(x), label=y), 15)
        return booster, numeric(x)
    if flavor == "lightgbm":
        import lightgbm as lgb

        return lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(numeric(x), y), numeric(x)
    if flavor == "lightgbm-booster":
        import lightgbm as lgb

        booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(numeric(x), label=y), 15)
        return booster, numeric(x)
    if flavor in ("pytorch", "pytorch-traced"):
        import torch

        torch.manual_seed(0)
        if flavor == "pytorch":
            module = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        else:
            class Net(torch.nn.Module):  # defined here, in __main__: loading must not need this code
                def __init__(self) -> None:
                    super().__init__()
                    self.a = torch.nn.Linear(3, 4)

                def forward(self, inp):  # type: ignore[no-untyped-def]
                    out = self.a(inp)
                    return out.sum(dim=1, keepdim=True) if out.shape[1] > 2 else out

            module = Net()
        return module, numeric(x).astype("float32")
    if flavor == "onnx":
        from skl2onnx import to_onnx
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(max_iter=1000).fit(numeric(x), y)
        return to_onnx(lr, numeric(x).to_numpy("float32")[:1], target_opset=17), numeric(x)
    if flavor == "python":
        class Threshold(sy.PythonModel):  # defined in __main__: saved by value
            def load(self, context):  # type: ignore[no-untyped-def]
                self.cut = float(Path(context.artifacts["cut"]).read_text())

            def predict(self, inputs):  # type: ignore[no-untyped-def]
                return (inputs["temp"] > self.cut).astype(int).to_numpy()

        return Threshold(), x
    raise SystemExit(f"unknown flavor {flavor}")


def save(flavor: str, out: Path) -> None:
    import shipyard as sy

    model, x = build(flavor)
    kwargs = {}
    if flavor == "python":
        (out / "cut.txt").write_text("12.5")
        kwargs["artifacts"] = {"cut": str(out / "cut.txt")}
    with sy.start_run(experiment="roundtrip") as run:
        info = run.log_model(model, name="model", input_example=x[:5], **kwargs)
    mv = sy.register_model(info.uri, f"rt-{flavor}")
    loaded = sy.load_model(mv.uri)
    np.save(out / "expected.npy", np.asarray(loaded.predict(x)))
    x.to_pickle(out / "x.pkl")
    (out / "uri").write_text(mv.uri + "\n" + info.flavor)


def load(uri: str, out: Path) -> None:
    import shipyard as sy

    loaded = sy.load_model(uri)
    x = pd.read_pickle(out / "x.pkl")
    np.save(out / "got.npy", np.asarray(loaded.predict(x)))
    if loaded.has_proba:
        np.save(out / "proba.npy", np.asarray(loaded.predict_proba(x.to_dict("records"))))


if __name__ == "__main__":
    mode, arg, folder = sys.argv[1:]
    if mode == "save":
        save(arg, Path(folder))
    else:
        load(arg, Path(folder))
