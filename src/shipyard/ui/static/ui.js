// Shipyard UI: charts (uPlot, data down-sampled on the server), run selection, keyboard navigation.
(function () {
  "use strict";
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
    "#7F3C8D", "#11A579", "#3969AC", "#F2B701", "#E73F74", "#80BA5A", "#E68310", "#008695"];
  var charts = [];

  function settings() {
    var box = document.querySelector("[data-chart-controls]");
    if (!box) return {x: "step", smooth: 0, log: false};
    return {x: box.querySelector("[data-x]").value, smooth: parseFloat(box.querySelector("[data-smooth]").value),
      log: box.querySelector("[data-log]").checked};
  }

  function ema(values, alpha) {  // exponential moving average, debiased like TensorBoard's
    if (!alpha) return values;
    var out = [], last = 0, n = 0;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v === null || !isFinite(v)) { out.push(v); continue; }
      last = last * alpha + (1 - alpha) * v; n++;
      out.push(last / (1 - Math.pow(alpha, n)));
    }
    return out;
  }

  function draw(fig, payload) {
    var s = settings();
    var tables = payload.series.map(function (ser) {
      var xs = s.x === "time" ? ser.time.map(function (t) { return t / 1000; }) : ser.step;
      var ys = ema(ser.value, s.smooth);
      if (s.log) ys = ys.map(function (v) { return v !== null && v > 0 ? v : null; });
      return [xs, ys];
    });
    if (fig._plot) { fig._plot.destroy(); fig._plot = null; }
    var old = fig.querySelector(".empty"); if (old) old.remove();
    if (!tables.length) { var p = document.createElement("p"); p.className = "empty muted"; p.textContent = "No values."; fig.appendChild(p); return; }
    var data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    var order = JSON.parse(fig.dataset.order || "[]");
    var series = [{label: s.x}].concat(payload.series.map(function (ser) {
      var i = order.indexOf(ser.run); if (i < 0) i = 0;
      return {label: ser.name, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true, points: {show: false}};
    }));
    var width = Math.max(fig.clientWidth - 20, 200);
    fig._plot = new uPlot({width: width, height: 220, series: series,
      scales: {x: {time: s.x === "time"}, y: {distr: s.log ? 3 : 1}},
      axes: [{}, {size: 60}], legend: {live: true}, cursor: {drag: {x: true, y: false}}}, data, fig);
  }

  function load(fig) {
    var width = Math.max(fig.clientWidth - 20, 200);
    var runs = fig.dataset.runs.split(",");
    fig.dataset.order = JSON.stringify(runs);
    var q = "key=" + encodeURIComponent(fig.dataset.key) + "&points=" + Math.round(width) +
      runs.map(function (r) { return "&run=" + encodeURIComponent(r); }).join("");
    fetch(fig.dataset.src + "?" + q, {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (payload) { fig._payload = payload; draw(fig, payload); fig.dataset.loaded = payload.series.reduce(function (n, s) { return n + s.step.length; }, 0); })
      .catch(function (e) { var p = document.createElement("p"); p.className = "error"; p.textContent = "Could not load: " + e.message; fig.appendChild(p); });
  }

  function redrawAll() { charts.forEach(function (fig) { if (fig._payload) draw(fig, fig._payload); }); }

  function initCharts() {
    charts = Array.prototype.slice.call(document.querySelectorAll("[data-chart]"));
    if (!charts.length || typeof uPlot === "undefined") return;
    var io = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting && !e.target._started) { e.target._started = true; load(e.target); } });
    }, {rootMargin: "200px"}) : null;
    charts.forEach(function (fig) { if (io) io.observe(fig); else load(fig); });
    var box = document.querySelector("[data-chart-controls]");
    if (box) {
      box.addEventListener("input", function () {
        var out = box.querySelector("[data-smooth-out]"); if (out) out.textContent = box.querySelector("[data-smooth]").value;
        redrawAll();
      });
    }
    var timer; window.addEventListener("resize", function () { clearTimeout(timer); timer = setTimeout(redrawAll, 150); });
    document.querySelectorAll("[data-series]").forEach(function (el) {
      el.style.background = PALETTE[parseInt(el.dataset.series, 10) % PALETTE.length];
    });
  }

  function initSelection() {
    var form = document.querySelector(".runs-form"); if (!form) return;
    var button = form.querySelector("[data-compare]"), label = form.querySelector("[data-selected]");
    form.addEventListener("change", function () {
      var n = form.querySelectorAll("input[name=run]:checked").length;
      button.disabled = n < 2;
      label.textContent = n ? n + " selected" : "tick two or more runs";
    });
  }

  function initKeyboard() {  // arrow keys move between rows, Enter opens the row's first link
    document.querySelectorAll("table[data-keyboard] tbody tr").forEach(function (tr) { tr.tabIndex = 0; });
    document.addEventListener("keydown", function (e) {
      var tr = document.activeElement;
      if (!tr || tr.tagName !== "TR" || !tr.closest("table[data-keyboard]")) return;
      var next = null;
      if (e.key === "ArrowDown" || e.key === "j") next = tr.nextElementSibling;
      else if (e.key === "ArrowUp" || e.key === "k") next = tr.previousElementSibling;
      else if (e.key === "Enter") { var a = tr.querySelector("a"); if (a) { a.click(); e.preventDefault(); } return; }
      else if (e.key === " ") { var box = tr.querySelector("input[type=checkbox]"); if (box) { box.click(); e.preventDefault(); } return; }
      if (next) { next.focus(); e.preventDefault(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { initCharts(); initSelection(); initKeyboard(); });
})();
