"""The web UI in a real browser: Debian's Chromium driven by Playwright (no browser download), against
a live authenticated server. Runs and models are logged through the SDK; the tests open each page,
check what it shows against the store, click through filter → select → compare → charts, move an
alias as an editor and see the form absent (and a forged post refused) for a viewer. A screenshot of
each page is saved under test-artifacts/ui/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.access import issue_token
from shipyard.entities import Role

from ..conftest import REQUIRE, LiveServer

CHROMIUM = os.environ.get("SHIPYARD_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
pytestmark = pytest.mark.xdist_group("browser")


def _browser_or_skip() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        why = f"playwright is not installed ({exc}); `make test` installs it"
    else:
        if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
            return sync_playwright
        why = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set SHIPYARD_TEST_CHROMIUM)"
    if REQUIRE:
        pytest.fail(f"SHIPYARD_TEST_REQUIRE_SERVICES=1 but {why}", pytrace=False)
    pytest.skip(why)


def _seed(ws: Any) -> dict[str, Any]:
    """Runs and a model through the SDK's domain classes, on the server's own store."""
    from sklearn.linear_model import LogisticRegression

    from shipyard.registry import Registry
    from shipyard.tracking import TrackingClient

    client = TrackingClient(ws, "shop")
    runs = []
    for i in range(12):
        with client.start_run("churn-tuning", run_name=f"trial-{i:02d}") as run:
            run.log_params({"C": 10 ** (i % 4 - 2), "penalty": "l2" if i % 3 else "l1"})
            for step in range(300):
                run.log_metric("loss", float(np.exp(-step / (40 + i)) + 0.02 * np.sin(step / 5)), step=step)
                if step % 10 == 0:
                    run.log_metric("val_auc", 0.6 + 0.3 * (1 - np.exp(-step / 80)) + i / 200, step=step)
            if i == 5:  # a long series: more points than any chart is wide
                noise = np.random.default_rng(5).normal(0, 0.05, 5000)
                for step in range(5000):
                    run.log_metric("grad_norm", float(1 + noise[step] + (3 if step == 4321 else 0)), step=step)
            runs.append(run.id)
    x = pd.DataFrame({"tenure": np.arange(40.0), "spend": np.arange(40.0) % 7})
    y = (x["tenure"] > 20).astype(int)
    with client.start_run("churn-tuning", run_name="final") as run:
        run.log_metric("val_auc", 0.93)
        info = run.log_model(LogisticRegression().fit(x, y), name="model", input_example=x[:3])
    registry = Registry(ws, "shop")
    registry.register_model(info.uri, "churn")
    registry.register_model(info.uri, "churn")
    registry.set_alias("churn", "champion", 1, reason="first release")
    return {"runs": runs}


def _seed_more(root: Path) -> None:
    """A deployment with traffic, a monitor with an alert, features materialized (the fluent API, on the
    workspace the environment names)."""
    import time

    import shipyard as sy
    from shipyard.monitoring._predictions import PredictionLog
    from shipyard.workspace import current_workspace

    sy.deploy("churn-prod", {"churn@champion": 90, "churn/2": 10}, reason="launch")
    rng = np.random.default_rng(3)
    now = int(time.time() * 1000)
    hour = 3_600_000
    start = now - now % hour - 3 * hour
    reference = pd.DataFrame({"tenure": rng.normal(20, 5, 2000), "spend": rng.integers(0, 7, 2000).astype(float)})
    sy.monitor("churn-prod", reference=reference, window="1h", start=start, rules=["drift.share >= 0.5"])
    with PredictionLog(current_workspace(), "shop", "churn-prod", flush_seconds=60) as log:
        for h, shift in enumerate((0.0, 12.0, 12.0)):
            for i in range(300):
                row = {"tenure": float(rng.normal(20 + shift, 5)), "spend": float(rng.integers(0, 7))}
                route = "churn@champion" if i % 10 else "churn/2"
                log.log(f"r{h}-{i}", route=route, model_version="churn/1" if i % 10 else "churn/2", inputs=[row],
                        predictions=[int(row["tenure"] > 20)], latency_ms=float(rng.gamma(2, 1.5)),
                        ts=start + h * hour + i * 1000)
    sy.monitoring.run("churn-prod", now=start + 3 * hour + 1)
    frame = pd.DataFrame({"customer": ["c1", "c2", "c1"], "ts": pd.to_datetime(["2026-11-01", "2026-11-02", "2026-11-03"],
                                                                               utc=True), "visits": [3.0, 5.0, 4.0]})
    frame.to_parquet(root / "visits.parquet")
    customer = sy.Entity("customer", ["customer"], description="a shop customer")
    visits = sy.FeatureView(name="customer_visits", entities=[customer], features={"visits": float}, ttl="30d",
                            source=sy.ParquetSource(str(root / "visits.parquet"), timestamp="ts"))
    sy.features.apply([customer, visits])
    sy.features.materialize(end="2026-11-04T00:00:00Z")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    sync_playwright = _browser_or_skip()
    from shipyard import config
    from shipyard.workspace import current_workspace, reset_workspace

    root = tmp_path_factory.mktemp("ui")
    saved = {k: os.environ.get(k) for k in ("SHIPYARD_HOME", "SHIPYARD_PROJECT")}
    os.environ.update({"SHIPYARD_HOME": str(root), "SHIPYARD_PROJECT": "shop"})
    config.reset()
    reset_workspace()
    ws = current_workspace()
    store = ws.metadata
    for name in ("ed", "vi", "boss"):
        store.create_user(name, is_admin=name == "boss")  # type: ignore[attr-defined]
    tokens = {"editor": issue_token(store, "ed", "shop", Role.EDITOR)[1],  # type: ignore[arg-type]
              "viewer": issue_token(store, "vi", "shop", Role.VIEWER)[1],  # type: ignore[arg-type]
              "admin": issue_token(store, "boss", None, Role.ADMIN)[1]}  # type: ignore[arg-type]
    seeded = _seed(ws)
    _seed_more(root)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    SHOTS.mkdir(parents=True, exist_ok=True)
    with LiveServer(ws, auth=True) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield {"url": server.url, "tokens": tokens, "browser": browser, "ws": ws, **seeded}
        browser.close()
    reset_workspace()
    config.reset()


def _login(site: dict[str, Any], who: str, path: str) -> Any:
    page = site["browser"].new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{site['url']}{path}")
    assert "/ui/login" in page.url  # asked to log in first, then sent back
    page.fill("input[name=token]", site["tokens"][who])
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")
    return page


def test_runs_filter_compare_and_charts(site: dict[str, Any]) -> None:
    page = _login(site, "viewer", "/ui/p/shop/runs")
    rows = page.locator("table.runs tbody tr")
    assert rows.count() == 13
    page.screenshot(path=str(SHOTS / "runs.png"), full_page=True)
    page.fill("#filter", "params.penalty = 'l1'")
    page.keyboard.press("Enter")
    page.wait_for_url("**filter=**")
    assert rows.count() == 4  # trials 0, 3, 6, 9
    names = sorted(page.locator("table.runs tbody tr td:nth-child(2)").all_inner_texts())
    assert names == ["trial-00", "trial-03", "trial-06", "trial-09"]
    compare = page.locator("[data-compare]")
    assert compare.is_disabled()
    page.locator("table.runs tbody tr").nth(0).locator("input[type=checkbox]").check()
    page.locator("table.runs tbody tr").nth(1).locator("input[type=checkbox]").check()
    assert page.locator("[data-selected]").inner_text() == "2 selected"
    compare.click()
    page.wait_for_url("**/ui/compare?**")
    assert page.locator("tr.differs").count() == 1  # C differs; the penalty is l1 for both
    page.wait_for_selector("figure.chart .uplot canvas")
    page.wait_for_function("document.querySelectorAll('figure.chart[data-loaded]').length == 2")
    loaded = page.eval_on_selector_all("figure.chart", "els => els.map(e => +e.dataset.loaded)")
    assert all(0 < n <= 2 * 2000 for n in loaded)
    page.check("[data-log]")
    page.select_option("[data-x]", "time")
    page.screenshot(path=str(SHOTS / "compare.png"), full_page=True)
    page.close()


def test_run_detail_chart_is_down_sampled(site: dict[str, Any]) -> None:
    page = _login(site, "viewer", f"/ui/runs/{site['runs'][5]}")
    run = site["ws"].metadata.get_run(site["runs"][5])
    assert page.locator("h1").inner_text().startswith("trial-05")
    chart = "figure.chart[data-key=grad_norm]"
    page.wait_for_selector(f"{chart}[data-loaded]")
    shown = int(page.get_attribute(chart, "data-loaded") or 0)
    width = page.eval_on_selector(chart, "e => e.clientWidth")
    assert 3 <= shown <= width < 5000  # never more points than the chart is wide
    assert page.eval_on_selector(chart, "e => e._payload.series[0].value.some(v => v > 3.5)")  # the spike survives
    table = page.locator("table.metrics").inner_text()
    assert f"{run.metrics['val_auc']:.6g}" in table
    page.screenshot(path=str(SHOTS / "run.png"), full_page=True)
    final = site["ws"].metadata.search_runs("shop", filter="attributes.run_name = 'final'").runs[0]
    page.goto(f"{site['url']}/ui/runs/{final.id}")
    page.locator("table.artifacts tbody tr td:first-child a").first.click()  # a file of the logged model
    page.wait_for_url("**/artifacts/**")
    assert page.locator("a[download]").count() == 1 and "sha256" in page.locator("main").inner_text()
    page.screenshot(path=str(SHOTS / "artifact.png"), full_page=True)
    page.close()


def test_alias_moves_for_editors_only(site: dict[str, Any]) -> None:
    viewer = _login(site, "viewer", "/ui/p/shop/models/churn")
    assert viewer.locator("form.move-alias").count() == 0
    assert "first release" in viewer.locator("table.history").inner_text()
    status = viewer.evaluate("""async () => (await fetch('/ui/p/shop/models/churn/alias', {method: 'POST',
        headers: {'content-type': 'application/x-www-form-urlencoded'},
        body: 'alias=champion&version=2&reason=sneaky&csrf=x'})).status""")
    assert status == 403
    viewer.screenshot(path=str(SHOTS / "model-viewer.png"), full_page=True)
    viewer.close()
    editor = _login(site, "editor", "/ui/p/shop/models/churn")
    editor.fill("form.move-alias input[name=alias]", "champion")
    editor.select_option("form.move-alias select[name=version]", "2")
    editor.fill("form.move-alias input[name=reason]", "v2 wins the A/B test")
    editor.click("form.move-alias button")
    editor.wait_for_selector("p.ok")
    assert "@champion now points to version 2" in editor.locator("p.ok").inner_text()
    assert "v2 wins the A/B test" in editor.locator("table.history").inner_text()
    from shipyard.registry import Registry

    assert Registry(site["ws"], "shop").get_model("churn").aliases["champion"] == 2
    events = site["ws"].metadata.search_audit(action="ui.set_alias")
    assert events and events[0].actor == "ed"
    editor.screenshot(path=str(SHOTS / "model-editor.png"), full_page=True)
    editor.close()


def test_models_list_and_lineage(site: dict[str, Any]) -> None:
    page = _login(site, "viewer", "/ui/p/shop/models")
    assert "churn" in page.locator("table.models").inner_text()
    page.click("text=churn")
    page.wait_for_url("**/models/churn")
    assert page.locator("svg.lineage .node").count() >= 2
    page.keyboard.press("Tab")
    page.screenshot(path=str(SHOTS / "models.png"), full_page=True)
    page.close()


def test_deployments_monitors_features(site: dict[str, Any]) -> None:
    page = _login(site, "editor", "/ui/p/shop/deployments")
    page.click("nav.windows >> text=24h")
    page.wait_for_url("**window=24h")
    assert "900" in page.locator("table.deployments").inner_text()  # 3 hours x 300 requests
    page.screenshot(path=str(SHOTS / "deployments.png"), full_page=True)
    row = page.locator("table.deployments tbody tr").first
    assert "churn-prod" in row.inner_text() and "90% churn@champion → v" in row.inner_text()
    page.click("nav.windows >> text=24h")
    page.click("text=churn-prod")
    page.wait_for_url("**/deployments/churn-prod**")
    traffic = page.locator("table.traffic").inner_text()
    assert "churn@champion" in traffic and "270" in traffic  # 3 hours × 270 requests on the champion route
    assert page.locator("svg.bars rect.bar").count() == 60
    page.screenshot(path=str(SHOTS / "deployment.png"), full_page=True)
    page.fill("form.promote input[name=reason]", "v2 wins")
    page.click("form.promote button")
    page.wait_for_selector("p.ok")
    assert "revision 2" in page.locator("p.ok").inner_text()
    assert "v2 wins" in page.locator("table.history").inner_text()
    page.goto(f"{site['url']}/ui/p/shop/monitors")
    assert "1 firing" in page.locator("table.monitors").inner_text()
    page.screenshot(path=str(SHOTS / "monitors.png"), full_page=True)
    page.click("table.monitors >> text=churn-prod >> nth=1")
    page.wait_for_url("**/monitors/churn-prod")
    assert page.locator(".report svg").count() >= 3  # drift share, rows, distributions
    page.select_option("select[name=column]", "spend")
    page.wait_for_url("**column=spend")
    assert "fired" in page.locator("table.events").inner_text()
    page.screenshot(path=str(SHOTS / "monitor.png"), full_page=True)
    page.goto(f"{site['url']}/ui/p/shop/features")
    views = page.locator("table.views").inner_text()
    assert "customer_visits" in views and "2026-11-04 00:00:00" in views
    page.screenshot(path=str(SHOTS / "features.png"), full_page=True)
    page.click("table.views >> text=customer_visits")
    page.wait_for_url("**/features/feature_view/customer_visits")
    assert "30 d 0 h" in page.locator("table.kv").inner_text() and "visits" in page.locator("main").inner_text()
    page.screenshot(path=str(SHOTS / "feature-view.png"), full_page=True)
    page.close()


def test_admin_creates_and_revokes_a_token(site: dict[str, Any]) -> None:
    page = _login(site, "admin", "/ui/admin")
    page.fill("form.create-token input[name=user]", "newcomer")
    page.check("form.create-token input[name=create_user]")
    page.select_option("form.create-token select[name=role]", "viewer")
    page.fill("form.create-token input[name=project]", "shop")
    page.click("form.create-token button")
    secret = page.locator("pre.token").inner_text().strip()
    assert secret.startswith("sy_")
    page.screenshot(path=str(SHOTS / "admin.png"), full_page=True)
    fresh = site["browser"].new_page()
    fresh.goto(f"{site['url']}/ui/p/shop/runs")
    fresh.fill("input[name=token]", secret)
    fresh.click("button[type=submit]")
    fresh.wait_for_url("**/ui/p/shop/runs")
    assert "newcomer" in fresh.locator(".who").inner_text()
    fresh.close()
    token_id = secret.split("_")[1]
    page.goto(f"{site['url']}/ui/admin")
    page.click(f"button[aria-label='revoke token {token_id}']")
    page.wait_for_selector("p.ok")
    page.goto(f"{site['url']}/ui/admin/audit?action=ui.token.revoke")
    assert token_id in page.locator("table.audit").inner_text()
    page.screenshot(path=str(SHOTS / "audit.png"), full_page=True)
    page.close()
