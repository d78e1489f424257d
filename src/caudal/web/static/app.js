// caudal dashboard: live overview over Server-Sent Events, charts drawn as inline SVG.
// No framework and no build step; every value from the server is set with textContent.
"use strict";

(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = ["#0b5fff", "#e8710a", "#137333", "#b3261e", "#8430ce", "#00838f",
    "#c2185b", "#5d4037", "#546e7a"];
  var H = 220, PAD_L = 36, PAD_R = 8, PAD_T = 10, PAD_B = 22;

  function el(name, attrs) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function sum(list) { return list.reduce(function (a, b) { return a + b; }, 0); }

  // The top of the y axis: four equal steps of 1, 2 or 5 times a power of ten (whole numbers).
  function niceMax(value) {
    var raw = Math.max(value, 4) / 4;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * p >= raw) { return Math.max(4, Math.ceil(steps[i] * p) * 4); }
    }
    return 40 * p;
  }

  function hhmm(iso) {
    var d = new Date(iso);
    return ("0" + d.getUTCHours()).slice(-2) + ":" + ("0" + d.getUTCMinutes()).slice(-2);
  }

  // One line per series over the minutes; the figure's data-total is the sum of every point.
  function drawChart(figure, minutes, series) {
    var svg = figure.querySelector("svg");
    var legend = figure.querySelector(".legend");
    // Drawn at the element's real width, so text is never stretched (redrawn on resize).
    var W = Math.max(280, Math.round(svg.getBoundingClientRect().width) || 640);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var names = Object.keys(series);
    var n = minutes.length;
    var peak = 0, total = 0;
    names.forEach(function (name) {
      series[name].forEach(function (v) { peak = Math.max(peak, v); });
      total += sum(series[name]);
    });
    var top = niceMax(peak);
    var x = function (i) { return PAD_L + (W - PAD_L - PAD_R) * (n <= 1 ? 0 : i / (n - 1)); };
    var y = function (v) { return H - PAD_B - (H - PAD_T - PAD_B) * (v / top); };
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var grid = el("g", { "class": "grid" });
    var axis = el("g", { "class": "axis" });
    for (var t = 0; t <= 4; t++) {
      var v = top * t / 4;
      grid.appendChild(el("line", { x1: PAD_L, x2: W - PAD_R, y1: y(v), y2: y(v) }));
      var label = el("text", { x: PAD_L - 4, y: y(v) + 4, "text-anchor": "end" });
      label.textContent = String(Math.round(v));
      axis.appendChild(label);
    }
    [0, Math.floor(n / 2), n - 1].forEach(function (i) {
      if (i < 0 || !minutes[i]) { return; }
      var text = el("text", { x: x(i), y: H - 6, "text-anchor": i === 0 ? "start" : (i === n - 1 ? "end" : "middle") });
      text.textContent = hhmm(minutes[i]);
      axis.appendChild(text);
    });
    svg.appendChild(grid);
    svg.appendChild(axis);
    while (legend.firstChild) { legend.removeChild(legend.firstChild); }
    names.forEach(function (name, k) {
      var color = PALETTE[k % PALETTE.length];
      var points = series[name].map(function (v, i) { return x(i).toFixed(1) + "," + y(v).toFixed(1); });
      var line = el("polyline", { points: points.join(" "), fill: "none", stroke: color,
        "stroke-width": 2, "stroke-linejoin": "round", "data-name": name,
        "data-total": sum(series[name]) });
      svg.appendChild(line);
      var item = document.createElement("li");
      item.setAttribute("data-name", name);
      item.setAttribute("data-total", String(sum(series[name])));
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = color;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(name + " (" + sum(series[name]) + ")"));
      legend.appendChild(item);
    });
    if (!names.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "No events in the last hour yet.";
      legend.appendChild(empty);
    }
    figure.setAttribute("data-total", String(total));
    svg.setAttribute("aria-label", names.length
      ? names.map(function (s) { return s + ": " + sum(series[s]) + " events"; }).join(", ") + " in the last hour"
      : "No events in the last hour");
  }

  function setMetric(name, value) {
    document.querySelectorAll('[data-metric="' + name + '"]').forEach(function (node) {
      node.textContent = value === null || value === undefined ? "n/a" : String(value);
    });
  }

  function part(p) { return p && p.state === "ok" ? p.value : null; }

  function fillRows(tbodyId, rows, cells, emptyText, colspan) {
    var body = document.getElementById(tbodyId);
    if (!body) { return; }
    while (body.firstChild) { body.removeChild(body.firstChild); }
    if (!rows || !rows.length) {
      var tr = document.createElement("tr");
      tr.className = "empty-row";
      var td = document.createElement("td");
      td.colSpan = colspan;
      td.textContent = emptyText;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      cells(row).forEach(function (cell) {
        var td = document.createElement("td");
        var text = cell[0] === null || cell[0] === undefined ? "—" : String(cell[0]);
        if (cell[1] === "status") {
          var pill = document.createElement("span");
          pill.className = "status status-" + text.replace(/[^a-z]/g, "");
          pill.textContent = text;
          td.appendChild(pill);
        } else {
          td.textContent = text;
          if (cell[1]) { td.className = cell[1]; }
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  var lastData = null;

  function renderOverview(data) {
    lastData = data;
    drawChart(document.getElementById("chart-source"), data.minutes, data.by_source);
    drawChart(document.getElementById("chart-type"), data.minutes, data.by_type);
    setMetric("events_last_hour", data.events_last_hour);
    setMetric("events_last_minute", data.events_last_minute);
    setMetric("quarantine", part(data.quarantine));
    setMetric("dead_letters", part(data.dead_letters));
    setMetric("ledger_postings_per_minute", data.ledger_postings_per_minute);
    var types = Object.keys(data.by_type).map(function (name) { return { type: name, total: sum(data.by_type[name]) }; });
    fillRows("type-totals", types, function (r) { return [[r.type], [r.total, "num"]]; },
      "No events in the last hour. Run `caudal demo` to see traffic.", 2);
    var body = document.getElementById("type-totals");
    if (body) {
      Array.prototype.forEach.call(body.rows, function (tr, i) {
        if (types[i]) { tr.setAttribute("data-type", types[i].type); }
      });
    }
    if (data.lag && data.lag.state === "ok") {
      fillRows("lag-rows", data.lag.value, function (r) {
        return [[r.group], [r.lag, "num"], [r.dead_letters, "num"]];
      }, "No consumer group yet.", 3);
    }
    if (data.runs && data.runs.state === "ok") {
      fillRows("runs-rows", data.runs.value, function (r) {
        return [[r.pipeline], [r.run_date || r.date], [r.status, "status"], [r.rows, "num"]];
      }, "No pipeline run yet.", 4);
    }
    var stamp = document.getElementById("live-status");
    if (stamp) {
      stamp.setAttribute("data-updated", data.generated_at);
    }
  }

  function liveStatus(state, text) {
    var node = document.getElementById("live-status");
    if (node) { node.setAttribute("data-state", state); node.textContent = text; }
  }

  function startOverview() {
    var initial = document.getElementById("overview-data");
    if (!initial) { return; }
    try { renderOverview(JSON.parse(initial.textContent)); } catch (e) { /* keep server render */ }
    if (!window.EventSource) { liveStatus("error", "Live updates need a newer browser; reload to refresh."); return; }
    var source = new EventSource("/ui/stream/overview");
    source.addEventListener("overview", function (msg) {
      renderOverview(JSON.parse(msg.data));
      liveStatus("live", "Live · updated " + new Date().toISOString().slice(11, 19) + " UTC");
    });
    source.addEventListener("unavailable", function (msg) {
      liveStatus("error", "Live updates paused: " + JSON.parse(msg.data).detail);
    });
    source.addEventListener("signed-out", function () {
      source.close();
      window.location.assign("/login?next=%2F");
    });
    source.onerror = function () {
      // The stream closes on purpose every few seconds and the browser reconnects by itself.
      if (source.readyState === EventSource.CLOSED) {
        liveStatus("error", "Live updates stopped: your session may have ended. Reload the page.");
      }
    };
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    if (!lastData) { return; }
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { renderOverview(lastData); }, 150);
  });

  document.addEventListener("DOMContentLoaded", startOverview);
})();
