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
from shipyard.monitoring import DriftReport, Profile, Thresholds, _stats, drift, profile
from shipyard.monitoring._profile import text_hash

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


# -- high-cardinality categoricals: 1,000 near-equally frequent ids -------------------------------------
OLD_PROFILE = (  # written by the profile code before categorical profiles listed every value and hash buckets
    '{"format": "shipyard.profile/1", "rows": 2000, "settings": {"bins": 4, "top_k": 50, "max_int_categories": 20}, '
    '"skipped": [], "columns": {"x": {"kind": "numeric", "dtype": "float64", "rows": 2000, "nulls": 0, "min": 3.5, '
    '"max": 16.0, "mean": 9.91955, "std": 1.9710366029440125, "quantiles": [3.5, 8.6, 9.9, 11.3, 16.0], '
    '"edges": [3.5, 8.6, 9.9, 11.3, 16.0], "counts": [1, 530, 518, 481, 470]}, "color": {"kind": "categorical", '
    '"dtype": "str", "rows": 2000, "nulls": 0, "value_type": "str", "categories": ["red", "green", "blue"], '
    '"counts": [1001, 582, 417], "other": 0, "distinct": 3}, "store": {"kind": "categorical", "dtype": "str", '
    '"rows": 2000, "nulls": 0, "value_type": "str", "categories": [], "counts": [], "other": 2000, "distinct": 100}}}')


def stores(n: int, seed: int, *, ids: int = 1000) -> pd.DataFrame:
    """A column of ``ids`` equally frequent store ids, and an amount."""
    r = np.random.default_rng(seed)
    return pd.DataFrame({"store": np.char.add("store_", r.integers(0, ids, n).astype(str)),
                         "amount": r.normal(50.0, 10.0, n)})


def _ids(values: np.ndarray) -> np.ndarray:
    return np.char.add("store_", values.astype(str))


def test_a_column_of_1000_ids_is_listed_in_full() -> None:
    ref = profile(stores(20_000, seed=1))
    store = ref["store"]
    assert store.complete and len(store.categories) == store.distinct == 1000 and store.buckets == ()
    size = len(json.dumps(store.to_dict()))
    assert 12_000 < size < 25_000  # about 17 KB: 1,000 ids with their counts
    assert ref.settings["max_categories"] == 2000 and ref.settings["tail_buckets"] == 64


@pytest.mark.parametrize("rows", [5_000, 1_000])
def test_changes_among_1000_ids_are_found(rows: int) -> None:
    """The two probes of bench/monitoring.py: half the ids replaced with ids the reference never had,
    and the ids concentrated on a few (Zipf). Before every value was listed, a column of 1,000
    near-equal ids kept no category of its own and neither change could show."""
    ref = profile(stores(20_000, seed=1))
    half = stores(rows, seed=2)
    half["store"] = _ids(np.random.default_rng(3).integers(500, 1500, rows))
    report = drift(ref, half)
    col = report.columns["store"]
    assert report.drifted_columns == ["store"]
    assert col.unseen_share == pytest.approx(0.5, abs=0.05) and len(col.unseen) == 10
    assert col.p_value < 1e-20 and col.effect_size > 0.4
    zipf = stores(rows, seed=4)
    zipf["store"] = _ids(np.minimum(np.random.default_rng(5).zipf(1.3, rows), 999))
    report = drift(ref, zipf)
    col = report.columns["store"]
    assert report.drifted_columns == ["store"] and col.p_value < 1e-20 and col.effect_size > 0.5


@pytest.mark.parametrize(("rows", "seeds"), [(500, 8), (1_000, 8), (10_000, 4), (1_000_000, 1)],
                         ids=["500", "1k", "10k", "1M"])
def test_no_drift_on_a_column_of_1000_ids(rows: int, seeds: int) -> None:
    """Two samples of 1,000 equally frequent ids: nothing flagged, as a pair and as a tenth-size
    window against the first one's profile. The raw Jensen–Shannon distance between the samples is
    large from sampling noise alone (about 0.19 at 10k vs 10k, 0.6 at 1k vs 1k); the effect size
    subtracts that noise and stays near 0 (about the threshold at worst, for 500 rows, where only the
    test's significance can decide)."""
    for seed in range(seeds):
        ref, cur = stores(rows, seed=2 * seed), stores(rows, seed=2 * seed + 1)
        report = drift(ref, cur)
        assert report.drifted_columns == [], (seed, report.columns["store"])
        assert drift(profile(ref), cur.iloc[: rows // 10]).drifted_columns == []
        store = report.columns["store"]
        if rows >= 10_000:
            counts = [ref["store"].value_counts(), cur["store"].value_counts()]
            both = pd.concat(counts, axis=1).fillna(0).to_numpy().T
            assert _stats.js_distance(both[0], both[1]) > (0.15 if rows == 10_000 else 0.015)
            assert store.effect_size < (0.08 if rows == 10_000 else 0.005)
    profiled = profile(stores(20_000, seed=99))
    for seed in range(20):  # windows against a 20k reference
        assert drift(profiled, stores(rows if rows <= 1_000 else 5_000, seed=500 + seed)).drifted_columns == []


def test_a_trivial_change_among_1000_ids_is_significant_but_not_drift() -> None:
    """Every other id 12% more frequent, the rest 12% less: a Jensen–Shannon distance of 0.051.
    With 30,000 rows a side chi-squared finds it; sampling noise alone would add 0.1 to the raw
    distance, and the noise-corrected effect size reads 0.05 ± 0.01, under the 0.1 threshold. The
    same pattern at ±30% (distance 0.127) is drift."""
    for eps, drifted in ((0.12, False), (0.3, True)):
        q = 1 + eps * np.where(np.arange(1000) % 2 == 0, 1, -1)
        q /= q.sum()
        truth = _stats.js_distance(np.full(1000, 1.0), q)
        for seed in range(3):
            r = np.random.default_rng(seed)
            ref = pd.DataFrame({"store": _ids(r.integers(0, 1000, 30_000))})
            cur = pd.DataFrame({"store": _ids(r.choice(1000, 30_000, p=q))})
            col = drift(ref, cur).columns["store"]
            assert col.p_value < col.alpha and col.drifted is drifted
            assert col.effect_size == pytest.approx(truth, abs=0.015)


def test_beyond_the_cap_the_tail_is_hashed() -> None:
    """50,000 possible ids in a 20,000-row reference: too many to list, so the profile keeps 64 hash
    buckets (CRC-32 of the value's text) of their counts. Concentration on a few ids shows; ids
    replaced by other ids drawn alike cannot (and are not flagged); neither is a window like the
    reference."""
    ref = profile(stores(20_000, seed=1, ids=50_000))
    store = ref["store"]
    assert store.categories == () and store.other == 20_000 and len(store.buckets) == 64
    assert sum(store.buckets) == 20_000 and len(json.dumps(store.to_dict())) < 1_000
    assert list(text_hash(["store_1", 7, "été"])) == [686463742, 1790921346, 1154575572]  # stable, stored
    for rows in (1_000, 5_000):
        assert drift(ref, stores(rows, seed=rows, ids=50_000)).drifted_columns == []
        other = stores(rows, seed=rows + 1, ids=50_000)
        other["store"] = _ids(np.random.default_rng(rows).integers(50_000, 100_000, rows))
        assert drift(ref, other).drifted_columns == []
        zipf = stores(rows, seed=rows + 2)
        zipf["store"] = _ids(np.minimum(np.random.default_rng(rows).zipf(1.3, rows), 49_999))
        assert drift(ref, zipf).drifted_columns == ["store"]
    # 1,000 ids in 2,000 rows: 27% of the rows are ids seen once, so a window would find about 13% of
    # its ids "unseen" by chance alone; such a column is not listed in full either.
    sparse = profile(stores(2_000, seed=1))["store"]
    assert not sparse.complete and sparse.categories == () and len(sparse.buckets) == 64
    assert profile(stores(2_000, seed=1), tail_buckets=0)["store"].buckets == ()


def test_grouping_sparse_cells_does_not_see_which_side_a_value_came_from() -> None:
    """A reference listing 600 ids seen once each (a complete profile: top_k=1000) and a window of
    600 other ids, all drawn from 10^9: two samples of one distribution. Every cell is sparse and
    the cells are grouped; were they grouped in list order (the reference's values, then the new
    ones), every group would be all-reference or all-window and chi-squared would call it drift."""
    r = np.random.default_rng(0)
    ref = profile(pd.DataFrame({"user": _ids(r.integers(0, 10**9, 600))}), top_k=1000)
    assert ref["user"].complete and len(ref["user"].categories) == 600
    col = drift(ref, pd.DataFrame({"user": _ids(r.integers(0, 10**9, 600))})).columns["user"]
    assert col.unseen_share == 1.0 and not col.drifted and col.p_value > 0.01
    # The grouped table: every cell has an expected count of at least 5 in the smaller sample.
    a, b = r.multinomial(20_000, np.full(1000, 1e-3)), r.multinomial(1_000, np.full(1000, 1e-3))
    ref_cells, cur_cells = _stats.sparse_cells(a, b)
    assert ref_cells.sum() == 20_000 and cur_cells.sum() == 1_000 and 100 < len(ref_cells) < 200
    assert ((ref_cells + cur_cells) * 1_000 / 21_000).min() >= _stats.MIN_CELL


def test_a_small_window_of_new_values_is_far_from_the_reference() -> None:
    """Six months in the reference, a window of 100 rows all in a seventh: the new month's cell is
    sparse (under one row expected) and alone; chi-squared merges it into a month's cell, but the
    distance keeps it, and reads the window as (nearly) disjoint from the reference."""
    r = np.random.default_rng(3)
    ref = profile(pd.DataFrame({"month": r.integers(1, 7, 20_000)}))
    col = drift(ref, pd.DataFrame({"month": np.full(100, 7)})).columns["month"]
    assert col.drifted and col.unseen == ("7",) and col.effect_size > 0.99


def test_chi_squared_over_hundreds_of_sparse_cells_keeps_its_size() -> None:
    """1,000 equally likely ids, 20,000 against 1,000 draws (an expected count of 1 per id in the
    window), 2,000 times: the share of p-values under 0.05 and 0.01 is what it should be."""
    r = np.random.default_rng(1)
    p = np.array([_stats.chi2_homogeneity(r.multinomial(20_000, np.full(1000, 1e-3)),
                                          r.multinomial(1_000, np.full(1000, 1e-3)))[1] for _ in range(2_000)])
    assert 0.035 < (p < 0.05).mean() < 0.065 and (p < 0.01).mean() < 0.017


def test_a_profile_written_before_buckets_still_loads() -> None:
    """A profile JSON from before categorical profiles listed every value (no ``buckets``, no
    ``max_categories`` setting; its 100 store ids kept as one "other" count) loads and compares as
    it did: its store column cannot show a change among the ids; a profile built today can."""
    old = Profile.from_dict(json.loads(OLD_PROFILE))
    assert old["store"].buckets == () and not old["store"].complete and "max_categories" not in old.settings
    r = np.random.default_rng(7)
    window = pd.DataFrame({"x": r.normal(10, 2, 1_000).round(1), "color": np.array(["red", "green", "blue"])[
        r.choice(3, 1_000, p=[0.2, 0.3, 0.5])], "store": _ids(np.minimum(r.zipf(1.3, 1_000), 99))})
    report = drift(old, window)
    assert report.drifted_columns == ["color"] and report.columns["store"].p_value == 1.0
    again = Profile.from_dict(json.loads(json.dumps(old.to_dict())))
    assert drift(again, window).to_dict() == report.to_dict()
    reference = pd.DataFrame({"x": r.normal(10, 2, 2_000), "color": np.array(["red", "green", "blue"])[
        r.choice(3, 2_000, p=[0.5, 0.3, 0.2])], "store": _ids(r.integers(0, 100, 2_000))})
    assert drift(profile(reference), window).drifted_columns == ["color", "store"]
    broken = json.loads(OLD_PROFILE)
    broken["columns"]["store"]["buckets"] = [1000, 999]
    with pytest.raises(InvalidParameter, match="buckets"):
        Profile.from_dict(broken)


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
