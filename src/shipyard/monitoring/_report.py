"""A monitor's report: the same content as JSON (for machines) and as one standalone HTML file (for
people: inline SVG charts, no script, no external asset).

It shows the monitor's recent windows — drift share and performance over time, rows and labels per
window, each column's drift effect per window as a heat map — then the latest evaluated window in
detail: reference vs current distribution of every drifted column (and the prediction), the drift
table, data quality, performance per segment and the A/B readout, and the alerts.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from shipyard._internal._time import now_ms
from shipyard.entities import Alert, MonitorResult
from shipyard.monitoring import _svg
from shipyard.monitoring._alerts import alert_dict
from shipyard.monitoring._json import jsonable

FORMAT = "shipyard.monitor-report/1"
PERFORMANCE_SHOWN = ("accuracy", "f1", "roc_auc", "precision", "recall", "mae", "rmse", "r2")
#: Data-quality measures charted over time (shares of rows / cells; see _window).
QUALITY_SHOWN = ("quality.null_rate", "quality.null_rate_increase", "quality.out_of_range", "quality.unseen")
MAX_DISTRIBUTIONS = 12


def build_report(store: Any, project: str, name: str, *, windows: int = 60) -> dict[str, Any]:
    """The report's content as a JSON-ready dict."""
    m = store.get_monitor(project, name)
    since = (m.watermark - windows * m.window_ms) if m.watermark is not None else None
    results: list[MonitorResult] = store.list_monitor_results(project, name, since=since)[-windows:]
    alerts: list[Alert] = store.list_alerts(project, monitor=name, limit=50)
    latest = next((r for r in reversed(results) if r.status != "empty"), None)
    report: dict[str, Any] = jsonable({
        "format": FORMAT, "generated_at": now_ms(), "project": project,
        "monitor": {"name": m.name, "deployment": m.deployment, "window_ms": m.window_ms, "state": m.state.value,
                    "watermark": m.watermark, "checks": list(m.config.get("checks") or ()),
                    "rules": [r.get("name") for r in m.config.get("rules") or ()], "reference_rows": m.reference.get("rows")},
        "windows": [{"start": r.window_start, "end": r.window_end, "status": r.status, "rows": r.rows,
                     "labelled": r.labelled, "metrics": dict(r.metrics)} for r in results],
        "latest": None if latest is None else {"start": latest.window_start, "end": latest.window_end,
                                               "status": latest.status, "metrics": dict(latest.metrics),
                                               "detail": dict(latest.detail)},
        "alerts": [alert_dict(a) for a in alerts],
    })
    return report


def write_report(data: Mapping[str, Any], *, html: str | Path | None = None, json_path: str | Path | None = None) -> None:
    """Write the report as HTML and / or JSON (each written to a temporary file, then moved into place)."""
    outputs: list[tuple[str | Path | None, Callable[[], str]]] = [
        (json_path, lambda: json.dumps(data, indent=2, allow_nan=False)), (html, lambda: render_html(data))]
    for path, text in outputs:
        if path is None:
            continue
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(text(), encoding="utf-8")
        partial.replace(target)


def _when(ms: int | None, window_ms: int) -> str:
    if ms is None:
        return "—"
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    if window_ms >= 86_400_000:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%m-%d %H:%M" if window_ms >= 60_000 else "%H:%M:%S")


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}g}"
    return escape(str(value))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f'<tr class="{classes[i] if classes else ""}">' + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
                   for i, row in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _over_time(data: Mapping[str, Any]) -> str:
    windows = data["windows"]
    window_ms = data["monitor"]["window_ms"]
    labels = [_when(w["start"], window_ms) for w in windows]
    status = [w["status"] for w in windows]
    parts = []
    share = [w["metrics"].get("drift.share") for w in windows]
    latest = data.get("latest") or {}
    threshold = (latest.get("detail", {}).get("drift") or {}).get("share_threshold")
    if any(v is not None for v in share):
        parts.append(_svg.line_chart(labels, {"drift share": share}, title="Share of drifted columns per window",
                                     y_label="share", y_min=0.0, y_max=1.0, status=status,
                                     thresholds={"data-set drift": threshold} if threshold is not None else None))
    perf = {k.split(".", 1)[1]: [w["metrics"].get(k) for w in windows]
            for k in (f"performance.{m}" for m in PERFORMANCE_SHOWN) if any(w["metrics"].get(k) is not None for w in windows)}
    if perf:
        parts.append(_svg.line_chart(labels, perf, title="Performance on labelled feedback per window",
                                     y_label="metric", status=status, zero=False))
    quality = {k.split(".", 1)[1].replace("_", " "): [w["metrics"].get(k) for w in windows] for k in QUALITY_SHOWN
               if any(w["metrics"].get(k) is not None for w in windows)}
    if quality:
        parts.append(_svg.line_chart(labels, quality, title="Data quality per window", y_label="share",
                                     status=status))
    rows = {"predictions": [float(w["rows"]) for w in windows], "labelled": [float(w["labelled"]) for w in windows]}
    parts.append(_svg.line_chart(labels, rows, title="Predictions and labels per window", y_label="rows", status=status))
    return "".join(f'<figure>{p}</figure>' for p in parts) + _heatmap(windows, labels)


def _heatmap(windows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    columns = sorted({k[6:] for w in windows for k in w["metrics"] if k.startswith("drift.")} -
                     {"share", "columns", "dataset"})
    if not columns or not windows:
        return ""
    shown = list(range(max(0, len(windows) - 24), len(windows)))
    head = "<th>column</th>" + "".join(f'<th class="v">{escape(labels[i])}</th>' for i in shown)
    body = []
    for col in columns:
        cells = []
        for i in shown:
            value = windows[i]["metrics"].get(f"drift.{col}")
            alpha = 0.0 if value is None else min(1.0, float(value) / 0.5)
            cells.append(f'<td style="background: rgba(220,38,38,{alpha:.2f})" title="{escape(col)} '
                         f'{escape(labels[i])}: {_num(value)}">{_num(value, 2)}</td>')
        body.append(f"<tr><th>{escape(col)}</th>{''.join(cells)}</tr>")
    return ('<h3>Drift effect size per column and window</h3><p class="note">Wasserstein distance in reference '
            'standard deviations (numeric) or Jensen–Shannon distance (categorical); darker is larger (full colour from '
            '0.5).</p>'
            f'<div class="scroll"><table class="heat"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div>")


def _latest(data: Mapping[str, Any]) -> str:
    latest = data.get("latest")
    if latest is None:
        return "<p>No window with predictions has been evaluated yet: run <code>shipyard monitor run</code>.</p>"
    detail = latest["detail"]
    window_ms = data["monitor"]["window_ms"]
    out = [f'<h2>Latest window: {_when(latest["start"], window_ms)} → {_when(latest["end"], window_ms)} '
           f'<span class="badge {escape(latest["status"])}">{escape(latest["status"])}</span></h2>']
    if detail.get("problems"):
        out.append("<ul>" + "".join(f"<li>{escape(p)}</li>" for p in detail["problems"]) + "</ul>")
    drift = detail.get("drift") or {}
    cols = drift.get("columns") or {}
    dists = detail.get("distributions") or {}
    focus = [c for c in drift.get("drifted_columns", [])][:MAX_DISTRIBUTIONS]
    if (detail.get("prediction_drift") or {}).get("drifted") or "prediction" in dists:
        focus.append("prediction")
    if focus:
        out.append("<h3>Reference vs current distributions</h3><div class=\"grid\">")
        for col in focus:
            d = dists.get(col)
            if not d:
                continue
            title = f"{col}" + (" (drifted)" if cols.get(col, {}).get("drifted") else "")
            chart = (_svg.histogram(d["edges"], d["reference"], d["current"], title=title) if d["kind"] == "numeric"
                     else _svg.bars(d["categories"], d["reference"], d["current"], title=title))
            out.append(f"<figure>{chart}<figcaption>{escape(title)}</figcaption></figure>")
        out.append("</div>")
    if cols:
        rows = [[escape(n), escape(c["kind"]), escape(c["test"]), _num(c["p_value"]), f'{escape(c["effect"])} {_num(c["effect_size"])}',
                 _num(c["threshold"]), f'{_num(c["null_rate_reference"])} → {_num(c["null_rate_current"])}',
                 "<b>drifted</b>" if c["drifted"] else "no"] for n, c in cols.items()]
        out.append("<h3>Drift per column</h3>" + _table(
            ["column", "kind", "test", "p-value", "effect size", "threshold", "missing rate", "verdict"], rows,
            ["bad" if c["drifted"] else "" for c in cols.values()]))
    quality = detail.get("quality") or {}
    if quality.get("columns"):
        rows = [[escape(n), _num(q.get("null_rate")), _num(q.get("reference_null_rate")), _num(q.get("out_of_range")),
                 _num(q.get("unseen")), escape(", ".join(map(str, q.get("unseen_values") or [])))]
                for n, q in quality["columns"].items()]
        out.append("<h3>Data quality</h3>" + _table(["column", "missing", "missing (reference)", "out of range",
                                                      "unseen share", "unseen values"], rows))
        contract = quality.get("contract")
        if contract:
            failures = contract.get("failures") or []
            out.append(f'<p>Contract <b>{escape(str(contract.get("name")))}</b>: '
                       + ("passed" if contract.get("passed") else f"{len(failures)} check(s) failed: "
                          + escape(", ".join(f["name"] for f in failures))) + "</p>")
    out.append(_performance(detail.get("performance")))
    return "".join(out)


def _performance(perf: Mapping[str, Any] | None) -> str:
    if not perf:
        return "<h3>Performance</h3><p class=\"note\">No labelled feedback in this window yet.</p>"
    overall = perf["overall"]
    segments = perf.get("segments") or []
    names = list(overall["metrics"])
    rows = [[escape(str(s["name"])), _num(s["rows"]), _num(s["labelled"]), _num(s["coverage"]),
             *[_num(s["metrics"].get(k)) for k in names]] for s in [overall, *segments, *(perf.get("shadow") or [])]]
    out = "<h3>Performance</h3>" + _table(["segment", "rows", "labelled", "coverage", *names], rows)
    ab = perf.get("ab")
    if ab:
        rows = [[escape(r["route"]), _num(r.get("rows")), _num(r.get("labelled")), _num(r.get("value")),
                 f'{_num(r.get("ci_low"))} – {_num(r.get("ci_high"))}', _num(r.get("p_value")), escape(str(r.get("verdict") or ""))]
                for r in ab["routes"]]
        out += (f'<h3>A/B readout on {escape(ab["metric"])} (baseline {escape(ab["baseline"])})</h3>'
                + _table(["route", "rows", "labelled", ab["metric"], "95% interval", "p-value", "verdict"], rows))
    return out


def _alerts(alerts: Sequence[Mapping[str, Any]], window_ms: int) -> str:
    if not alerts:
        return "<h2>Alerts</h2><p class=\"note\">None raised.</p>"
    rows = [[f'<span class="badge {"alert" if a["state"] == "FIRING" else "ok"}">{escape(a["state"])}</span>',
             escape(a["severity"]), escape(a["rule"]), escape(a["message"]), _num(a["windows"]),
             _when(a["opened_at"], min(window_ms, 60_000)), _when(a["resolved_at"], min(window_ms, 60_000))] for a in alerts]
    return "<h2>Alerts</h2>" + _table(["state", "severity", "rule", "message", "windows", "opened", "resolved"], rows)


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f8fafc;color:#0f172a}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px}h3{font-size:15px;margin:22px 0 8px}
.sub,.note{color:#64748b;font-size:13px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px}.card span{color:#64748b;font-size:12px}
figure{background:#fff;border:1px solid #e2e8f0;border-radius:8px;margin:10px 0;padding:8px;display:inline-block}
figcaption{font-size:12px;color:#475569;text-align:center}
.grid{display:flex;flex-wrap:wrap;gap:10px}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0}
th,td{border:1px solid #e2e8f0;padding:4px 8px;text-align:left}th{background:#f1f5f9}
tr.bad td{background:#fef2f2}
.heat td{text-align:center;font-size:11px;min-width:34px}.heat th.v{writing-mode:vertical-rl;font-weight:normal;font-size:11px}
.scroll{overflow-x:auto}
.badge{border-radius:10px;padding:2px 8px;font-size:12px;color:#fff;background:#64748b;vertical-align:middle}
.badge.ok{background:#16a34a}.badge.warning{background:#ca8a04}.badge.alert{background:#dc2626}.badge.empty{background:#94a3b8}
"""


def _cards(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    latest = data.get("latest") or {}
    metrics = latest.get("metrics") or {}
    firing = sum(1 for a in data["alerts"] if a["state"] == "FIRING")
    perf_key = next((f"performance.{k}" for k in PERFORMANCE_SHOWN if metrics.get(f"performance.{k}") is not None), None)
    return [("status", escape(latest.get("status", "—"))), ("windows", _num(len(data["windows"]))),
            ("predictions (latest)", _num(int(metrics.get("rows") or 0))),
            ("drift share", _num(metrics.get("drift.share"))), ("drifted columns", _num(metrics.get("drift.columns"))),
            (perf_key.split(".", 1)[1] if perf_key else "performance", _num(metrics.get(perf_key)) if perf_key else "—"),
            ("open alerts", _num(firing))]


def sections(data: Mapping[str, Any]) -> dict[str, str]:
    """The report's parts as HTML fragments (escaped; inline SVG), for pages that frame them (the web
    UI): ``cards`` (the headline numbers), ``over_time`` (drift share, performance and rows per window;
    the per-column drift heat map), ``latest`` (the latest window: distributions of the drifted columns
    and the prediction, drift per column, data quality, performance) and ``alerts``."""
    cards = "<div class=\"cards\">" + "".join(f"<div class=\"card\"><b>{v}</b><span>{escape(k)}</span></div>"
                                               for k, v in _cards(data)) + "</div>"
    return {"cards": cards,
            "over_time": _over_time(data) if data["windows"] else "<p>No window evaluated yet.</p>",
            "latest": _latest(data), "alerts": _alerts(data["alerts"], data["monitor"]["window_ms"])}


def distribution_chart(data: Mapping[str, Any], column: str) -> str:
    """Reference vs current distribution of ``column`` in the latest evaluated window ("" if the window
    has none for it)."""
    detail = (data.get("latest") or {}).get("detail") or {}
    d = (detail.get("distributions") or {}).get(column)
    if not d:
        return ""
    drifted = ((detail.get("drift") or {}).get("columns") or {}).get(column, {}).get("drifted")
    title = column + (" (drifted)" if drifted else "")
    return (_svg.histogram(d["edges"], d["reference"], d["current"], title=title) if d["kind"] == "numeric"
            else _svg.bars(d["categories"], d["reference"], d["current"], title=title))


def render_html(data: Mapping[str, Any]) -> str:
    m = data["monitor"]
    parts = sections(data)
    window_ms = m["window_ms"]
    generated = dt.datetime.fromtimestamp(data["generated_at"] / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Monitor {escape(m['name'])}</title>"
        f"<style>{STYLE}</style></head><body><main>"
        f"<h1>Monitor <code>{escape(m['name'])}</code> on deployment <code>{escape(m['deployment'])}</code></h1>"
        f"<p class=\"sub\">Project {escape(data['project'])} · windows of {_duration(window_ms)} · "
        f"reference of {_num(m.get('reference_rows'))} rows · checks: {escape(', '.join(m['checks']))} · "
        f"rules: {escape('; '.join(r for r in m['rules'] if r))} · generated {generated}</p>"
        + parts["cards"] + "<h2>Over time</h2>" + parts["over_time"] + parts["latest"] + parts["alerts"]
        + "<p class=\"note\">Generated by Shipyard (<code>shipyard monitor report</code>); the same data is available as "
          "JSON with <code>--json</code>.</p></main></body></html>"
    )


def _duration(ms: int) -> str:
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms} ms"
