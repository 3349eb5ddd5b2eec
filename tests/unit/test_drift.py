"""The drift engine (shipyard.monitoring.profile / drift): known answers on planted shifts, silence on
samples of one distribution at 500, 10k and 1M rows, the edge cases, and properties (hypothesis)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shipyard as sy
from shipyard.exceptions import InvalidParameter
from shipyard.monitoring import DriftReport, Profile, Thresholds, drift, profile

COLORS = np.array(["red", "green", "blue", "black"])
COLOR_P = [0.4, 0.3, 0.2, 0.1]
RATING_P = [0.1, 0.15, 0.25, 0.3, 0.2]


def frame(n: int, seed: int) -> pd.DataFrame:
    """One distribution, every kind of column the engine distinguishes."""
    r = np.random.default_rng(seed)
    sparse = r.normal(0.0, 1.0, n)
    sparse[r.random(n) < 0.05] = np.nan
    city = np.minimum(r.zipf(1.6, n), 400)
    return pd.DataFrame({
        "normal": r.normal(10.0, 2.0, n),
        "skewed": r.lognormal(0.0, 0.75, n),
        "heavy": r.standard_t(2, n),  # heavy tails: infinite variance
        "wide_int": r.integers(0, 1000, n),  # integer with many values: numeric
        "count": r.poisson(3.0, n),  # integer with few values: categorical codes
        "rating": r.choice(np.arange(1, 6), n, p=RATING_P),
        "color": COLORS[r.choice(4, n, p=COLOR_P)],
        "flag": r.random(n) < 0.3,
        "city": np.char.add("c", city.astype(str)),  # a long tail of categories
        "user": np.char.add("u", r.integers(0, 10**9, n).astype(str)),  # an id: every value new
        "sparse": sparse,  # 5% missing
        "constant": np.full(n, 1.5),
        "empty": np.full(n, np.nan),
    })


def _set(col: str, make: Callable[[np.random.Generator, int], object]) -> Callable[[pd.DataFrame, np.random.Generator], None]:
    def plant(df: pd.DataFrame, r: np.random.Generator) -> None:
        df[col] = make(r, len(df))
    return plant


def _nulls(col: str, rate: float) -> Callable[[pd.DataFrame, np.random.Generator], None]:
    def plant(df: pd.DataFrame, r: np.random.Generator) -> None:
        df[col] = df[col].where(r.random(len(df)) >= rate)
    return plant


def _new_category(df: pd.DataFrame, r: np.random.Generator) -> None:
    df["color"] = np.where(r.random(len(df)) < 0.15, "purple", df["color"].to_numpy())


# name → (changes to the current window, the columns that must be flagged)
PLANTED: dict[str, tuple[list[Callable[[pd.DataFrame, np.random.Generator], None]], set[str]]] = {
    "mean +0.5 sd": ([_set("normal", lambda r, n: r.normal(11.0, 2.0, n))], {"normal"}),
    "variance x2.25": ([_set("normal", lambda r, n: r.normal(10.0, 3.0, n))], {"normal"}),
    "skewed scale x1.5": ([_set("skewed", lambda r, n: 1.5 * r.lognormal(0.0, 0.75, n))], {"skewed"}),
    "heavy-tailed shift": ([_set("heavy", lambda r, n: r.standard_t(2, n) + 0.6)], {"heavy"}),
    "heavier tails": ([_set("heavy", lambda r, n: r.standard_t(1, n))], {"heavy"}),
    "int range moved": ([_set("wide_int", lambda r, n: r.integers(200, 1200, n))], {"wide_int"}),
    "poisson 3 -> 4": ([_set("count", lambda r, n: r.poisson(4.0, n))], {"count"}),
    "rating frequencies": ([_set("rating", lambda r, n: r.choice(np.arange(1, 6), n, p=RATING_P[::-1]))], {"rating"}),
    "color frequencies": ([_set("color", lambda r, n: COLORS[r.choice(4, n, p=[0.25, 0.3, 0.25, 0.2])])], {"color"}),
    "new category 15%": ([_new_category], {"color"}),
    "flag 30% -> 45%": ([_set("flag", lambda r, n: r.random(n) < 0.45)], {"flag"}),
    "city head moved": ([_set("city", lambda r, n: np.char.add("c", (np.minimum(r.zipf(1.6, n), 400) + 1).astype(str)))],
                        {"city"}),
    "missing 5% -> 25%": ([_nulls("sparse", 0.2)], {"sparse"}),
    "missing 0% -> 10% (categorical)": ([_nulls("color", 0.1)], {"color"}),
    "missing 0% -> 10% (codes)": ([_nulls("rating", 0.1)], {"rating"}),
    "constant changed": ([_set("constant", lambda r, n: np.full(n, 2.5))], {"constant"}),
    "empty column filled": ([_set("empty", lambda r, n: r.normal(0.0, 1.0, n))], {"empty"}),
    "column dropped": ([lambda df, r: df.pop("wide_int")], {"wide_int"}),
    "three at once": ([_set("normal", lambda r, n: r.normal(11.0, 2.0, n)), _new_category,
                       _set("flag", lambda r, n: r.random(n) < 0.45)], {"normal", "color", "flag"}),
    # Differences that are real but trivial, in a window large enough to make them significant.
    "trivial mean shift": ([_set("normal", lambda r, n: r.normal(10.14, 2.0, n))], set()),  # 0.07 sd
    "trivial frequency change": ([_set("color", lambda r, n: COLORS[r.choice(4, n, p=[0.38, 0.3, 0.2, 0.12])])], set()),
}


@pytest.fixture(scope="module")
def reference() -> Profile:
    return profile(frame(20_000, seed=1))


def _window(plants: list[Callable[[pd.DataFrame, np.random.Generator], None]], n: int, seed: int) -> pd.DataFrame:
    df = frame(n, seed)
    r = np.random.default_rng(seed + 1000)
    for plant in plants:
        plant(df, r)
    return df


def test_profile_kinds(reference: Profile) -> None:
    kinds = {name: col.kind for name, col in reference.columns.items()}
    assert kinds == {"normal": "numeric", "skewed": "numeric", "heavy": "numeric", "wide_int": "numeric",
                     "count": "categorical", "rating": "categorical", "color": "categorical", "flag": "categorical",
                     "city": "categorical", "user": "categorical", "sparse": "numeric", "constant": "numeric",
                     "empty": "numeric"}
    rating = reference["rating"]
    assert rating.kind == "categorical" and rating.value_type == "int" and set(rating.categories) == {1, 2, 3, 4, 5}
    normal = reference["normal"]
    assert normal.kind == "numeric" and len(normal.quantiles) == 101 and sum(normal.counts) == 20_000
    assert normal.quantiles[50] == pytest.approx(10.0, abs=0.1) and normal.std == pytest.approx(2.0, abs=0.1)
    assert reference["sparse"].nulls == pytest.approx(1000, abs=100) and reference["empty"].valid == 0
    user = reference["user"]  # an id column keeps no categories of its own (winner's curse, see _top)
    assert user.kind == "categorical" and user.categories == () and user.other == 20_000
    assert len(json.dumps(reference.to_dict(), allow_nan=False)) < 100_000


def test_planted_drift_precision_and_recall(reference: Profile) -> None:
    """Every planted shift is found and nothing else is flagged: precision and recall per column are
    both 1.0 over the whole suite (21 scenarios × 13 columns; a window of 5,000 rows against a
    reference of 20,000; a 200,000-row window for the two trivial changes, which are significant
    there and must still not be flagged)."""
    tp: dict[str, int] = {}
    fp: dict[str, int] = {}
    fn: dict[str, int] = {}
    misses = []
    for i, (name, (plants, expected)) in enumerate(PLANTED.items()):
        n = 200_000 if name.startswith("trivial") else 5_000
        report = drift(reference, _window(plants, n, seed=100 + i))
        flagged = set(report.drifted_columns)
        for col in reference.columns:
            hit, want = col in flagged, col in expected
            tp[col] = tp.get(col, 0) + (hit and want)
            fp[col] = fp.get(col, 0) + (hit and not want)
            fn[col] = fn.get(col, 0) + (want and not hit)
        if flagged != expected:
            misses.append((name, sorted(flagged), sorted(expected)))
        if name.startswith("trivial"):
            col = report.columns["normal" if "mean" in name else "color"]
            assert col.p_value < col.alpha and col.effect_size < col.threshold  # significant, yet not drift
    precision = {c: tp[c] / (tp[c] + fp[c]) for c in tp if tp[c] + fp[c]}
    recall = {c: tp[c] / (tp[c] + fn[c]) for c in tp if tp[c] + fn[c]}
    assert misses == []
    assert precision == {c: 1.0 for c in precision} and recall == {c: 1.0 for c in recall}
    assert set(recall) == {"normal", "skewed", "heavy", "wide_int", "count", "rating", "color", "flag", "city",
                           "sparse", "constant", "empty"}


def test_reasons_are_reported(reference: Profile) -> None:
    missing = drift(reference, _window(PLANTED["missing 5% -> 25%"][0], 5_000, seed=7)).columns["sparse"]
    assert missing.null_drifted and not missing.distribution_drifted
    assert missing.null_rate_current == pytest.approx(0.24, abs=0.02)
    new = drift(reference, _window([_new_category], 5_000, seed=8)).columns["color"]
    assert new.unseen == ("purple",) and new.unseen_share == pytest.approx(0.15, abs=0.02)
    assert new.test == "chi2" and new.distribution_drifted
    shifted = drift(reference, _window(PLANTED["mean +0.5 sd"][0], 5_000, seed=9)).columns["normal"]
    assert shifted.test == "ks" and shifted.effect_size == pytest.approx(0.5, abs=0.06)
    assert shifted.psi > 0.1
    dropped = drift(reference, _window(PLANTED["column dropped"][0], 100, seed=10)).columns["wide_int"]
    assert dropped.null_rate_current == 1.0 and dropped.drifted and "missing from current" in dropped.note


@pytest.mark.parametrize(("rows", "seeds"), [(500, 8), (10_000, 4), (1_000_000, 1)], ids=["500", "10k", "1M"])
def test_no_drift_between_samples_of_one_distribution(rows: int, seeds: int) -> None:
    """Two independent samples of one distribution, of equal size, for several seeds: nothing flagged."""
    for seed in range(seeds):
        ref, cur = frame(rows, seed=2 * seed), frame(rows, seed=2 * seed + 1)
        if rows > 100_000:  # the id column is the slow one to build and adds nothing at this size
            ref, cur = ref.drop(columns="user"), cur.drop(columns="user")
        report = drift(ref, cur)
        assert report.drifted_columns == [] and not report.dataset_drifted
        small = drift(profile(ref), cur.iloc[: rows // 10])  # a small window against the same reference
        assert small.drifted_columns == []


def test_false_alarm_rate_of_small_windows(reference: Profile) -> None:
    """Small windows are where p-values go wrong (sparse categories, long tails, unbalanced sizes)
    and where the effect-size threshold cannot help, because noise is large. The Bonferroni rule
    promises that a window from the reference's own distribution flags anything with probability at
    most alpha (1%). 100 windows of 200 rows against the 20k reference and 100 pairs of 500-row
    samples: at most 2 of the 200 reports may flag a column (the expected number at 1%). Before
    chi-squared merged cells by expected count and kept new values in separate cells, this suite
    flagged 5."""
    flagged = 0
    for seed in range(100):
        flagged += bool(drift(reference, frame(200, seed=50_000 + seed)).drifted_columns)
        flagged += bool(drift(frame(500, seed=60_000 + 2 * seed), frame(500, seed=60_001 + 2 * seed)).drifted_columns)
    assert flagged <= 2


def test_dataset_verdict_and_thresholds(reference: Profile) -> None:
    window = _window(PLANTED["three at once"][0], 5_000, seed=11)
    report = drift(reference, window)
    assert report.share == pytest.approx(3 / 13) and not report.dataset_drifted
    assert drift(reference, window, thresholds={"share": 0.2}).dataset_drifted
    relaxed = drift(reference, window, thresholds={"columns": {"normal": {"wasserstein": 1.0}}})
    assert set(relaxed.drifted_columns) == {"color", "flag"}
    assert relaxed.columns["normal"].threshold == 1.0 and relaxed.columns["skewed"].threshold == 0.1
    strict = drift(reference, window, columns=["normal", "flag"], thresholds=Thresholds(alpha=1e-300))
    assert list(strict.columns) == ["normal", "flag"] and strict.drifted_columns == []
    with pytest.raises(InvalidParameter, match="valid keys"):
        drift(reference, window, thresholds={"wassserstein": 0.2})
    with pytest.raises(InvalidParameter, match="valid keys"):
        drift(reference, window, thresholds={"columns": {"normal": {"psi": 0.2}}})
    with pytest.raises(InvalidParameter, match="not in the reference"):
        drift(reference, window, columns=["nope"])


def test_report_serialises(reference: Profile) -> None:
    report = drift(reference, _window(PLANTED["three at once"][0], 2_000, seed=12))
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["drifted_columns"] == ["normal", "color", "flag"]
    assert data["columns"]["empty"]["effect_size"] is None and data["columns"]["color"]["unseen"] == ["purple"]
    table = report.to_frame()
    assert list(table.index) == list(reference.columns) and table.loc["normal", "drifted"]
    assert sy.monitoring.drift is drift  # reachable through the facade's lazy subpackage


def test_edge_cases() -> None:
    ref = pd.DataFrame({
        "x": [1.5, 2.5, np.nan, 4.0] * 50, "none": [None] * 200, "same": [7] * 200,
        "codes": pd.array([1, 2, None, 3] * 50, dtype="Int64"), "b": pd.array([True, False, None, True] * 50, dtype="boolean"),
        "cat": pd.Categorical(["p", "q"] * 100, categories=["p", "q", "r"]), "mixed": ["a", 1, 2.5, None] * 50,
        "when": pd.date_range("2026-01-01", periods=200, freq="h"),
    })
    prof = profile(ref)
    assert prof.skipped == ("when",) and prof["codes"].kind == "categorical" and prof["b"].value_type == "bool"
    assert drift(ref, ref.iloc[:0]).drifted_columns == []  # an empty window: nothing to compare, no crash
    assert drift(ref.iloc[:0], ref).columns["x"].test == "none"  # an empty reference
    assert drift(ref, ref).drifted_columns == []
    cur = ref.copy()
    cur["codes"] = cur["codes"].astype("float64")  # integer codes arriving as floats (missing values)
    cur["x"] = ["1.5", "oops", None, "4"] * 50  # numbers arriving as text
    report = drift(prof, cur)
    assert not report.columns["codes"].drifted
    assert report.columns["x"].null_drifted and "not numeric" in report.columns["x"].note
    flipped = drift(prof, ref.assign(same=8, cat=pd.Categorical(["r"] * 200, categories=["p", "q", "r"])))
    assert set(flipped.drifted_columns) == {"same", "cat"}
    heavy = pd.DataFrame({"h": np.random.default_rng(0).standard_cauchy(20_000)})
    near = pd.DataFrame({"h": np.random.default_rng(1).standard_cauchy(20_000)})
    assert drift(heavy, near).drifted_columns == []
    assert drift(heavy, near.assign(h=near["h"] + 1e300 * (near.index == 0))).drifted_columns == []  # one outlier
    numbered = pd.DataFrame(np.random.default_rng(2).normal(size=(300, 3)))  # labels that are not text
    assert drift(numbered, numbered + 1).drifted_columns == ["0", "1", "2"]
    assert list(drift(numbered, numbered, columns=[0, 2]).columns) == ["0", "2"]
    with pytest.raises(InvalidParameter, match="unique"):
        profile(pd.DataFrame([[1, 2]], columns=["x", "x"]))
    with pytest.raises(InvalidParameter, match="DataFrame or a Profile"):
        drift({"x": [1]}, ref)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="format"):
        Profile.from_dict({"columns": {}})
    broken = prof.to_dict()
    broken["columns"]["x"]["counts"] = broken["columns"]["x"]["counts"][1:]
    with pytest.raises(InvalidParameter, match="'x' of the profile is malformed"):
        Profile.from_dict(broken)


def test_json_round_trip_gives_the_same_report(reference: Profile) -> None:
    text = json.dumps(reference.to_dict(), allow_nan=False)
    loaded = Profile.from_dict(json.loads(text))
    window = _window(PLANTED["three at once"][0], 3_000, seed=13)
    assert drift(loaded, window).to_dict() == drift(reference, window).to_dict()


def _frames() -> st.SearchStrategy[pd.DataFrame]:
    floats = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, 1.0, math.inf]))
    return st.integers(0, 60).flatmap(lambda n: st.fixed_dictionaries({
        "f": st.lists(floats, min_size=n, max_size=n),
        "i": st.lists(st.integers(-3, 30), min_size=n, max_size=n),
        "s": st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", ""])), min_size=n, max_size=n),
        "b": st.lists(st.booleans(), min_size=n, max_size=n),
    })).map(lambda d: pd.DataFrame({"f": pd.Series(d["f"], dtype="float64"), "i": pd.Series(d["i"], dtype="int64"),
                                    "s": pd.Series(d["s"], dtype=object), "b": pd.Series(d["b"], dtype=bool)}))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_frames(), _frames())
def test_properties(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """A sample is never drifted against itself or its profile; the profile survives JSON; a report
    always has one row per reference column, whichever side is the reference."""
    for report in (drift(a, a), drift(profile(a), a)):
        assert report.drifted_columns == []
        assert all(c.p_value == 1.0 and (c.test == "none" or c.effect_size == 0.0) for c in report.columns.values())
    loaded = Profile.from_dict(json.loads(json.dumps(profile(a).to_dict(), allow_nan=False)))
    assert drift(loaded, b).to_dict() == drift(a, b).to_dict()
    ab, ba = drift(a, b), drift(b, a)
    assert isinstance(ab, DriftReport) and list(ab.columns) == list(ba.columns) == ["f", "i", "s", "b"]
    assert ab.to_frame().shape == ba.to_frame().shape
    json.dumps(ab.to_dict(), allow_nan=False)
