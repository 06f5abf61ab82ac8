// Draws the report's charts into inline SVG from the embedded JSON. No library, no network:
// every text goes in through textContent, so a value can never become markup.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("aoetl-data").textContent);
  var W = 320;

  function num(x) {
    if (x === null || x === undefined || !isFinite(x)) { return "—"; }
    var a = Math.abs(x);
    if (Number.isInteger(x) && a < 1e15) { return x.toLocaleString("en-US"); }
    if (a >= 1000) { return x.toLocaleString("en-US", { maximumFractionDigits: 1 }); }
    if (a >= 1) { return x.toLocaleString("en-US", { maximumFractionDigits: 3 }); }
    return Number(x.toPrecision(3)).toString();
  }
  function compact(x) {
    var a = Math.abs(x);
    if (a >= 1e9) { return num(+(x / 1e9).toFixed(1)) + "B"; }
    if (a >= 1e6) { return num(+(x / 1e6).toFixed(1)) + "M"; }
    if (a >= 1e4) { return num(+(x / 1e3).toFixed(1)) + "k"; }
    return num(x);
  }
  function pct(share) {
    if (share <= 0) { return "0%"; }
    if (share < 0.001) { return "< 0.1%"; }
    return (+(share * 100).toFixed(1)) + "%";
  }
  function when(epoch, full) {
    var d = new Date(epoch * 1000);
    if (isNaN(d.getTime())) { return num(epoch); }
    var iso = d.toISOString();
    if (!full && iso.slice(11, 19) === "00:00:00") { return iso.slice(0, 10); }
    return iso.slice(0, 10) + " " + iso.slice(11, 16);
  }
  function el(tag, attrs, parent) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function text(parent, x, y, content, attrs) {
    var t = el("text", Object.assign({ x: x, y: y, "class": "axis" }, attrs || {}), parent);
    t.textContent = content;
    return t;
  }
  function tip(node, content) { el("title", {}, node).textContent = content; }
  function canvas(fig, h) {
    return el("svg", { viewBox: "0 0 " + W + " " + h, width: W, height: h, role: "img",
                       preserveAspectRatio: "xMidYMid meet" }, fig);
  }
  function caption(fig, content) {
    var c = document.createElement("figcaption");
    c.className = "muted";
    c.style.fontSize = "12px";
    c.textContent = content;
    fig.appendChild(c);
  }

  function histogram(fig, col) {
    var h = col.histogram, temporal = h.kind === "temporal";
    var H = 150, L = 40, R = 8, T = 8, B = 24, pw = W - L - R, ph = H - T - B;
    var svg = canvas(fig, H);
    var max = Math.max.apply(null, h.counts), total = h.counts.reduce(function (a, b) { return a + b; }, 0);
    var bw = pw / h.counts.length, fmt = function (v) { return temporal ? when(v) : num(v); };
    [0, 0.5, 1].forEach(function (f) {
      var y = T + ph - f * ph;
      el("line", { x1: L, x2: W - R, y1: y, y2: y, "class": "grid" }, svg);
      text(svg, L - 5, y + 3, compact(Math.round(max * f)), { "text-anchor": "end" });
    });
    var first = h.edges[0], last = h.edges[h.edges.length - 1];
    // Bins keep the first profile's edges (drift compares like with like): values outside
    // them are counted in the end bins, and their labels say so.
    var numbers = !temporal && typeof col.min === "number" && typeof col.max === "number";
    var below = numbers && col.min < first, above = numbers && col.max > last;
    var drawn = 0;
    h.counts.forEach(function (n, i) {
      if (n <= 0) { return; }
      var range = fmt(h.edges[i]) + " – " + fmt(h.edges[i + 1]);
      if (above && i === h.counts.length - 1) { range = fmt(h.edges[i]) + " and above"; }
      if (below && i === 0) { range = "below " + fmt(h.edges[1]); }
      var bh = Math.max(1.5, n / max * ph);
      var bar = el("rect", { x: L + i * bw + 0.5, y: T + ph - bh, width: Math.max(1, bw - 1),
                             height: bh, rx: 1, "class": "bar" }, svg);
      tip(bar, range + ": " + num(n) + " rows (" + pct(n / total) + ")");
      drawn += 1;
    });
    text(svg, L, H - 6, fmt(first), { "text-anchor": "start" });
    text(svg, W - R, H - 6, fmt(last), { "text-anchor": "end" });
    if (!temporal && h.counts.length > 2) { text(svg, L + pw / 2, H - 6, fmt((first + last) / 2), { "text-anchor": "middle" }); }
    var note = h.counts.length + " bins · " + num(total) + " values";
    if (below || above) {
      note += " · values outside " + fmt(first) + " – " + fmt(last) + " are counted in the end bins";
    }
    caption(fig, note);
    return drawn;
  }

  function topValues(fig, col) {
    var rows = col.top.slice(0, 10), present = col.count - col.nulls;
    if (col.histogram) {  // a number with few values: in their order, not by frequency
      rows.sort(function (a, b) { return Number(a.value) - Number(b.value); });
    }
    var bar = 16, gap = 6, labelW = 104, countW = 86, T = 2;
    var H = T + rows.length * (bar + gap), pw = W - labelW - countW;
    var svg = canvas(fig, H);
    var max = Math.max.apply(null, rows.map(function (r) { return r.count; }));
    var covered = 0;
    rows.forEach(function (r, i) {
      var y = T + i * (bar + gap), label = r.value === "" ? "(empty)" : r.value;
      if (col.histogram && r.value !== "" && isFinite(Number(r.value))) { label = num(Number(r.value)); }
      var short = label.length > 17 ? label.slice(0, 16) + "…" : label;
      text(svg, labelW - 6, y + bar - 4, short, { "text-anchor": "end", "class": "label" });
      var width = Math.max(1.5, r.count / max * pw);
      var rect = el("rect", { x: labelW, y: y, width: width, height: bar, rx: 2, "class": "bar" }, svg);
      var share = present > 0 ? " (" + pct(r.count / present) + ")" : "";
      tip(rect, label + ": " + num(r.count) + " rows" + share);
      text(svg, labelW + width + 5, y + bar - 4, num(r.count) + share, { "text-anchor": "start" });
      covered += r.count;
    });
    if (present > 0) {
      var distinct = col.distinct === null ? "" : " of " + (col.distinct_exact ? "" : "≈ ") + num(col.distinct);
      caption(fig, "Top " + rows.length + distinct + " distinct values · " + pct(covered / present) +
              " of non-null rows");
    }
    return rows.length;
  }

  function trend(fig, report) {
    var pts = report.history, H = 120, L = 30, R = 12, T = 10, B = 22, pw = W - L - R, ph = H - T - B;
    var svg = canvas(fig, H);
    // The axis starts a little below the lowest score, so a change of a few points shows.
    var low = Math.min.apply(null, pts.map(function (p) { return p.total; }));
    var lo = Math.max(0, Math.floor((low - 2) / 10) * 10), span = 100 - lo;
    function yOf(v) { return T + ph - (Math.min(100, Math.max(lo, v)) - lo) / span * ph; }
    [lo, lo + span / 2, 100].forEach(function (v) {
      var y = yOf(v);
      el("line", { x1: L, x2: W - R, y1: y, y2: y, "class": "grid" }, svg);
      text(svg, L - 5, y + 3, String(v), { "text-anchor": "end" });
    });
    var step = pw / Math.max(1, pts.length - 1);
    var xy = pts.map(function (p, i) {
      return [L + i * step, yOf(p.total)];
    });
    var line = xy.map(function (p, i) { return (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1); }).join(" ");
    el("path", { d: line + " L" + xy[xy.length - 1][0].toFixed(1) + " " + (T + ph) + " L" + L + " " + (T + ph) + " Z",
                 "class": "area" }, svg);
    el("path", { d: line, "class": "line" }, svg);
    pts.forEach(function (p, i) {
      var c = el("circle", { cx: xy[i][0], cy: xy[i][1], r: 3.5, "class": i === pts.length - 1 ? "pt last" : "pt" }, svg);
      tip(c, when(p.taken_at, true) + " UTC · score " + num(Math.round(p.total * 10) / 10) +
          (p.run_id ? " · run " + p.run_id : ""));
    });
    text(svg, L, H - 5, when(pts[0].taken_at), { "text-anchor": "start" });
    text(svg, W - R, H - 5, when(pts[pts.length - 1].taken_at), { "text-anchor": "end" });
    return pts.length;
  }

  var draw = { histogram: histogram, top: topValues };
  Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), function (fig) {
    try {
      var report = data.reports[Number(fig.getAttribute("data-table"))];
      var kind = fig.getAttribute("data-chart"), n;
      if (kind === "trend") {
        n = trend(fig, report);
      } else {
        n = draw[kind](fig, report.profile.columns[Number(fig.getAttribute("data-column"))]);
      }
      fig.setAttribute("data-drawn", String(n));
    } catch (err) {
      fig.classList.add("failed");
      fig.textContent = "This chart could not be drawn: " + err.message;
    }
  });
})();
