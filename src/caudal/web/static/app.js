// caudal dashboard: live overview over Server-Sent Events, charts drawn as inline SVG, a live
// events explorer and self-refreshing pipeline runs (polling). No framework and no build step;
// every value from the server is set with textContent.
"use strict";

(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = ["#0b5fff", "#e8710a", "#137333", "#b3261e", "#8430ce", "#00838f",
    "#c2185b", "#5d4037", "#546e7a"];
  var H = 230, PAD_L = 46, PAD_R = 10, PAD_T = 22, PAD_B = 24;
  var MINUTE = 60000;
  // Candidate time-axis steps in minutes: the smallest that leaves ~40 px per label wins.
  var TIME_STEPS = [1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 720, 1440, 2880];

  function el(name, attrs) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function sum(list) { return list.reduce(function (a, b) { return a + b; }, 0); }
  function pad(n) { return ("0" + n).slice(-2); }
  function hhmm(t) { var d = new Date(t); return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()); }
  function mmdd(t) { var d = new Date(t); return pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()); }
  function stepLabel(ms) { return ms >= 3600000 ? (ms / 3600000) + " h" : (ms / MINUTE) + " min"; }

  // A y axis of 1, 2 or 5 times a power of ten, whole numbers, four to six labels.
  function niceTicks(peak) {
    var raw = Math.max(peak, 4) / 4;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * p; }).filter(function (s) { return s >= raw; })[0];
    step = Math.max(1, Math.ceil(step));
    var ticks = [];
    for (var v = 0; v < peak + step; v += step) { ticks.push(v); }
    if (ticks.length < 5) { ticks.push(ticks[ticks.length - 1] + step); }
    return ticks;
  }

  // Time labels aligned on whole steps (UTC), as many as fit at ~40 px each.
  function timeTicks(t0, t1, width) {
    var room = Math.max(4, Math.floor(width / 40));
    var span = (t1 - t0) / MINUTE;
    var step = TIME_STEPS.filter(function (s) { return span / s <= room; })[0] || 2880;
    var ms = step * MINUTE, ticks = [];
    for (var t = Math.ceil(t0 / ms) * ms; t <= t1; t += ms) { ticks.push(t); }
    // Over more than a day, midnight is labelled with its date (Grafana does the same).
    return { ticks: ticks, days: span > 1440 };
  }

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  // One line per series over the buckets, each point at the middle of its bucket so the data
  // spans the range; the newest bucket is still filling: hatched, and reached by a dashed line.
  function drawChart(figure, data, series) {
    var svg = figure.querySelector("svg");
    var legend = figure.querySelector(".legend");
    var W = Math.max(280, Math.round(svg.getBoundingClientRect().width) || 640);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var names = Object.keys(series);
    var n = data.minutes.length;
    var step = data.step_seconds * 1000;
    var t0 = Date.parse(data.minutes[0]), t1 = t0 + n * step;
    var peak = 0, total = 0;
    names.forEach(function (name) {
      series[name].forEach(function (v) { peak = Math.max(peak, v); });
      total += sum(series[name]);
    });
    var yTicks = niceTicks(peak), top = yTicks[yTicks.length - 1];
    var plotW = W - PAD_L - PAD_R;
    var xt = function (t) { return PAD_L + plotW * (t - t0) / (t1 - t0); };
    var x = function (i) { return xt(t0 + (i + 0.5) * step); };
    var y = function (v) { return H - PAD_B - (H - PAD_T - PAD_B) * (v / top); };
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }

    var hatchId = "hatch-" + figure.id;
    var defs = el("defs");
    var pattern = el("pattern", { id: hatchId, width: 6, height: 6, patternUnits: "userSpaceOnUse",
      patternTransform: "rotate(45)" });
    pattern.appendChild(el("line", { x1: 0, y1: 0, x2: 0, y2: 6, "class": "hatch-line" }));
    defs.appendChild(pattern);
    svg.appendChild(defs);
    if (data.partial && n) {
      var partial = el("rect", { "class": "partial", x: xt(t1 - step), y: PAD_T,
        width: xt(t1) - xt(t1 - step), height: H - PAD_T - PAD_B, fill: "url(#" + hatchId + ")" });
      var pt = el("title");
      pt.textContent = "Still filling: " + hhmm(t1 - step) + "–" + hhmm(t1) + " UTC is not over yet";
      partial.appendChild(pt);
      svg.appendChild(partial);
    }

    var grid = el("g", { "class": "grid" });
    var axis = el("g", { "class": "axis" });
    yTicks.forEach(function (v) {
      grid.appendChild(el("line", { x1: PAD_L, x2: W - PAD_R, y1: y(v), y2: y(v) }));
      var label = el("text", { x: PAD_L - 5, y: y(v) + 4, "text-anchor": "end", "class": "y-tick" });
      label.textContent = v.toLocaleString("en-US");
      axis.appendChild(label);
    });
    var unit = el("text", { x: 4, y: 12, "class": "unit" });
    unit.textContent = "events / " + stepLabel(step);
    axis.appendChild(unit);
    var times = timeTicks(t0, t1, plotW);
    times.ticks.forEach(function (t) {
      grid.appendChild(el("line", { x1: xt(t), x2: xt(t), y1: PAD_T, y2: H - PAD_B, "class": "v" }));
      var edge = xt(t) > W - PAD_R - 16 ? "end" : (xt(t) < PAD_L + 16 ? "start" : "middle");
      var text = el("text", { x: xt(t), y: H - 7, "text-anchor": edge, "class": "x-tick" });
      text.textContent = times.days && t % (1440 * MINUTE) === 0 ? mmdd(t) : hhmm(t);
      axis.appendChild(text);
    });
    var utc = el("text", { x: W - PAD_R, y: 12, "text-anchor": "end", "class": "unit" });
    utc.textContent = "UTC";
    axis.appendChild(utc);
    svg.appendChild(grid);
    svg.appendChild(axis);

    while (legend.firstChild) { legend.removeChild(legend.firstChild); }
    var filter = figure.getAttribute("data-filter");
    names.forEach(function (name, k) {
      var color = PALETTE[k % PALETTE.length];
      var points = series[name].map(function (v, i) { return x(i).toFixed(1) + "," + y(v).toFixed(1); });
      var done = data.partial ? points.slice(0, -1) : points;
      svg.appendChild(el("polyline", { points: done.join(" "), fill: "none", stroke: color,
        "stroke-width": 2, "stroke-linejoin": "round", "data-name": name,
        "data-total": sum(series[name]) }));
      if (data.partial && n > 1) {
        svg.appendChild(el("polyline", { points: points.slice(-2).join(" "), fill: "none",
          stroke: color, "stroke-width": 2, "stroke-dasharray": "4 3", "class": "partial-line" }));
      }
      var item = document.createElement("li");
      item.setAttribute("data-name", name);
      item.setAttribute("data-total", String(sum(series[name])));
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = color;
      item.appendChild(swatch);
      var label = name + " (" + sum(series[name]).toLocaleString("en-US") + ")";
      item.appendChild(name === "other" || !filter
        ? document.createTextNode(label)
        : link("/events?" + filter + "=" + encodeURIComponent(name), label));
      legend.appendChild(item);
    });
    if (!names.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "No events in the last " + data.range_label + " yet.";
      legend.appendChild(empty);
    }

    // Hover targets: one column per bucket whose <title> lists its counts (the tooltip).
    var slots = el("g", { "class": "slots" });
    for (var i = 0; i < n; i++) {
      var start = t0 + i * step;
      var rect = el("rect", { x: xt(start), y: PAD_T, width: Math.max(1, xt(start + step) - xt(start)),
        height: H - PAD_T - PAD_B, "class": "slot", "data-index": i });
      var lines = [hhmm(start) + "–" + hhmm(start + step) + " UTC" +
        (data.partial && i === n - 1 ? " (still filling)" : "")];
      names.forEach(function (name) { lines.push(name + ": " + series[name][i] + " events"); });
      var title = el("title");
      title.textContent = lines.join("\n");
      rect.appendChild(title);
      slots.appendChild(rect);
    }
    svg.appendChild(slots);
    figure.setAttribute("data-total", String(total));
    svg.setAttribute("aria-label", names.length
      ? names.map(function (s) { return s + ": " + sum(series[s]) + " events"; }).join(", ") +
        " in the last " + data.range_label
      : "No events in the last " + data.range_label);
  }

  // The hover layer: the hovered bucket's <title> in a box that follows the pointer.
  function hoverTips(figure) {
    var tip = figure.querySelector(".tip");
    var svg = figure.querySelector("svg");
    if (!tip || !svg) { return; }
    svg.addEventListener("mousemove", function (ev) {
      var slot = ev.target.closest ? ev.target.closest("rect.slot") : null;
      if (!slot) { tip.hidden = true; return; }
      tip.textContent = slot.querySelector("title").textContent;
      tip.hidden = false;
      var box = figure.getBoundingClientRect();
      var left = ev.clientX - box.left + 12;
      tip.style.left = Math.min(left, box.width - tip.offsetWidth - 4) + "px";
      tip.style.top = (ev.clientY - box.top + 12) + "px";
    });
    svg.addEventListener("mouseleave", function () { tip.hidden = true; });
  }

  function setMetric(name, value) {
    document.querySelectorAll('[data-metric="' + name + '"]').forEach(function (node) {
      node.textContent = value === null || value === undefined ? "n/a" : String(value);
    });
  }

  function part(p) { return p && p.state === "ok" ? p.value : null; }

  // Table rows from data: a cell is [value, class] or [value, "status"] or [value, "link", href].
  function fillRows(tbodyId, rows, cells, emptyText, colspan) {
    var body = document.getElementById(tbodyId);
    if (!body) { return; }
    var labels = Array.prototype.map.call(
      body.parentNode.querySelectorAll("thead th"), function (th) { return th.textContent; });
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
      cells(row).forEach(function (cell, k) {
        var td = document.createElement("td");
        var text = cell[0] === null || cell[0] === undefined ? "—" : String(cell[0]);
        if (labels[k]) { td.setAttribute("data-label", labels[k]); }
        if (cell[1] === "status") {
          var pill = document.createElement("span");
          pill.className = "status status-" + text.replace(/[^a-z]/g, "");
          pill.textContent = text;
          td.appendChild(pill);
        } else if (cell[1] === "link" && cell[2]) {
          td.appendChild(link(cell[2], text));
        } else {
          td.textContent = text;
          if (cell[1] && cell[1] !== "link") { td.className = cell[1]; }
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  // The bus outbox (NATS only): its line, flagged once the oldest message waits too long.
  function showOutbox(outbox) {
    var line = document.getElementById("outbox-line");
    if (!line || !outbox) { return; }
    var value = outbox.state === "ok" ? outbox.value : null;
    var state = value ? (value.warning ? "warning" : "ok") : outbox.state;
    line.hidden = !(value || outbox.state === "error");
    line.setAttribute("data-state", state);
    line.className = "notice notice-" + state;
    var text = value ? value.text : (outbox.state === "error" ? outbox.message : "");
    if (line.textContent !== text) { line.textContent = text; }  // a live region: no repeats
  }

  var lastData = null;

  function renderOverview(data) {
    lastData = data;
    drawChart(document.getElementById("chart-source"), data, data.by_source);
    drawChart(document.getElementById("chart-type"), data, data.by_type);
    setMetric("events_last_hour", data.events_last_hour);
    setMetric("events_last_minute", data.events_last_minute);
    setMetric("quarantine", part(data.quarantine));
    setMetric("dead_letters", part(data.dead_letters));
    setMetric("ledger_postings_per_minute", data.ledger_postings_per_minute);
    var types = Object.keys(data.by_type).map(function (name) { return { type: name, total: sum(data.by_type[name]) }; });
    fillRows("type-totals", types, function (r) {
      return [[r.type, "link", r.type === "other" ? null : "/events?type=" + encodeURIComponent(r.type)],
        [r.total, "num"]];
    }, "No events in the last " + data.range_label + ". Run `caudal demo` to see traffic.", 2);
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
    showOutbox(data.outbox);
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
    hoverTips(document.getElementById("chart-source"));
    hoverTips(document.getElementById("chart-type"));
    var data = null;
    try { data = JSON.parse(initial.textContent); renderOverview(data); } catch (e) { /* keep server render */ }
    if (!window.EventSource) { liveStatus("error", "Live updates need a newer browser; reload to refresh."); return; }
    var range = data && data.range ? data.range : "1h";
    var source = new EventSource("/ui/stream/overview?range=" + encodeURIComponent(range));
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

  function poll(url, every, handle) {
    var timer = null;
    function tick() {
      fetch(url(), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (r.status === 401) { window.location.reload(); return null; }
          return r.ok ? r.json() : null;
        })
        .then(function (body) { if (body && handle(body) === false) { return; } timer = setTimeout(tick, every); })
        .catch(function () { timer = setTimeout(tick, every * 2); });
    }
    timer = setTimeout(tick, every);
    return function () { clearTimeout(timer); };
  }

  function cell(tr, label, text, className) {
    var td = document.createElement("td");
    td.setAttribute("data-label", label);
    if (className) { td.className = className; }
    if (text !== null) { td.textContent = text; }
    tr.appendChild(td);
    return td;
  }

  function code(text) { var c = document.createElement("code"); c.textContent = text; return c; }

  // The events explorer's first page takes new rows as they arrive (polling the received time).
  function startExplorer() {
    var table = document.querySelector("table.events[data-live]");
    if (!table) { return; }
    var body = table.tBodies[0];
    var status = document.getElementById("explorer-live");
    var newest = table.getAttribute("data-newest") || "";
    var paused = false;
    var toggle = document.getElementById("explorer-pause");
    if (toggle) {
      toggle.addEventListener("click", function () {
        paused = !paused;
        toggle.textContent = paused ? "Resume live" : "Pause live";
        toggle.setAttribute("aria-pressed", String(paused));
      });
    }
    poll(function () {
      return table.getAttribute("data-live") + (newest ? "&since=" + encodeURIComponent(newest) : "");
    }, 3000, function (found) {
      if (paused) { return true; }
      var added = 0;
      found.rows.slice().reverse().forEach(function (e) {
        if (body.querySelector('tr[data-id="' + CSS.escape(e.id) + '"]')) { return; }
        var tr = document.createElement("tr");
        tr.className = "event-row fresh";
        tr.setAttribute("data-type", e.type);
        tr.setAttribute("data-id", e.id);
        cell(tr, "Received", e.received, "nowrap");
        cell(tr, "Source", null).appendChild(link("/events?source=" + encodeURIComponent(e.source), e.source));
        cell(tr, "Type", null).appendChild(link("/events?type=" + encodeURIComponent(e.type), "")).appendChild(code(e.type));
        cell(tr, "Platform", e.platform);
        cell(tr, "Device", null).appendChild(code(e.device));
        cell(tr, "Occurred", e.occurred, "nowrap");
        var details = document.createElement("details");
        details.className = "json";
        var summary = document.createElement("summary");
        summary.textContent = "JSON";
        var pre = document.createElement("pre");
        pre.appendChild(code(e.json));
        details.appendChild(summary);
        details.appendChild(pre);
        cell(tr, "Event", null).appendChild(details);
        body.insertBefore(tr, body.firstChild);
        added++;
      });
      if (found.newest) { newest = found.newest; }
      while (body.rows.length > 200) { body.deleteRow(body.rows.length - 1); }
      var empty = document.getElementById("explorer-empty");
      if (added && empty) { empty.hidden = true; table.hidden = false; }
      if (status) {
        status.setAttribute("data-state", "live");
        status.textContent = found.more
          ? "Live · more new events than one update carries: reload for all of them"
          : "Live · " + (added ? added + " new · " : "") + "checked " +
            new Date().toISOString().slice(11, 19) + " UTC";
      }
      return true;
    });
  }

  // A running pipeline run's row refreshes itself until the run ends, then the page reloads once.
  function startPipelines() {
    var running = document.querySelectorAll("tr[data-run-status=running]");
    if (!running.length) { return; }
    Array.prototype.forEach.call(running, function (tr) {
      var id = tr.getAttribute("data-run-id");
      var started = Date.parse(tr.getAttribute("data-started"));
      var duration = tr.querySelector(".duration");
      var ticker = setInterval(function () {
        if (duration && started) { duration.textContent = Math.round((Date.now() - started) / 1000) + " s (running)"; }
      }, 1000);
      poll(function () { return "/ui/pipelines/runs/" + encodeURIComponent(id); }, 2000, function (run) {
        if (run.status === "running") { return true; }
        clearInterval(ticker);
        window.location.reload();
        return false;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    startOverview();
    startExplorer();
    startPipelines();
  });
})();
