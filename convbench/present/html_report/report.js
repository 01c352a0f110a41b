"use strict";
// Draws report.html from its JSON: filters, a sortable table and two log-log charts with hover details.
// Text from the results file is only ever set as text (textContent, text nodes, attribute values);
// nothing here parses markup.
(function () {
  const started = performance.now();
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const rows = data.rows.map(function (values, index) {
    const row = { index: index };
    data.keys.forEach(function (key, i) { row[key] = values[i]; });
    return row;
  });
  const SVG = "http://www.w3.org/2000/svg";
  const machines = unique(rows.map(function (r) { return r.machine; }));

  // Numbers as the rest of convbench writes them: 3 significant figures, K / M / G for counts.
  function significant(value, digits) {
    digits = digits || 3;
    if (value === null || value === undefined || !isFinite(value)) return "";
    if (value === 0) return "0";
    const rounded = Number(value.toPrecision(digits));
    const magnitude = Math.floor(Math.log10(Math.abs(rounded)));
    if (magnitude < -4 || magnitude >= 9) return value.toExponential(digits - 1);
    const parts = rounded.toFixed(Math.max(digits - 1 - magnitude, 0)).split(".");
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");  // 28900 -> 28,900
    return parts.join(".");
  }
  function si(value) {
    if (value === null || value === undefined) return "";
    const steps = [[1e9, "G"], [1e6, "M"], [1e3, "K"]];
    for (let i = 0; i < steps.length; i++) {
      if (Math.abs(value) >= steps[i][0] * (1 - 0.0005)) return significant(value / steps[i][0]) + steps[i][1];
    }
    return Number.isInteger(value) ? String(value) : significant(value);
  }
  function times(value) { return value === null || value === undefined ? "" : significant(value) + "x"; }
  function percent(value) { return value === null || value === undefined ? "" : significant(100 * value) + "%"; }
  function ratioText(row) {
    if (row.ratio === null) return "";
    const interval = row.low !== null && row.high !== null ? " (" + significant(row.low) + "-" + significant(row.high) + ")" : "";
    return times(row.ratio) + interval;
  }
  function flagsText(row) {
    return [row.contended ? "contended (" + significant(row.contention) + " cores)" : "",
      row.unstable ? "unstable" : ""].filter(Boolean).join(", ");
  }
  // a latency and its spread to the same last decimal place: 1.31 ± 0.25
  function withSpread(value, spread) {
    const shown = significant(value);
    if (!shown || spread === null || shown.indexOf("e") >= 0) return shown;
    const decimals = shown.indexOf(".") >= 0 ? shown.split(".")[1].length : 0;
    let spreadShown = spread.toFixed(decimals);
    if (spread > 0 && Number(spreadShown) === 0) spreadShown = significant(spread, 1);
    return shown + " ± " + spreadShown;
  }
  function unique(values) { return Array.from(new Set(values)); }
  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  // ---- the table ----------------------------------------------------------------------------
  const COLUMNS = [
    { key: "variant", title: "Variant" },
    { key: "shape", title: "Shape" },
    { key: "machine", title: "Machine", hidden: machines.length < 2 },
    { key: "runtime", title: "Runtime" },
    { key: "dtype", title: "Dtype" },
    { key: "threads", title: "Threads", number: true, show: function (r) { return r.threads === null ? "" : String(r.threads); } },
    { key: "params", title: "Params", number: true, show: function (r) { return si(r.params); } },
    { key: "macs", title: "MACs", number: true, show: function (r) { return si(r.macs); } },
    { key: "kmac_px", title: "kMAC/px", number: true, show: function (r) { return significant(r.kmac_px); } },
    { key: "latency", title: "Latency (ms) ± IQR", number: true, show: function (r) { return withSpread(r.latency, r.iqr); } },
    { key: "ratio", title: "Latency / baseline (CI)", number: true, show: ratioText },
    { key: "verdict", title: "Verdict", value: function (r) { return r.status === "ok" ? r.verdict : r.status; } },
    { key: "flags", title: "Flags", value: flagsText },
    { key: "params_ratio", title: "Params / baseline", number: true, show: function (r) { return times(r.params_ratio); } },
    { key: "macs_ratio", title: "MACs / baseline", number: true, show: function (r) { return times(r.macs_ratio); } },
    { key: "intensity", title: "MACs/byte", number: true, show: function (r) { return significant(r.intensity); } },
    { key: "gmacs", title: "GMAC/s", number: true, show: function (r) { return significant(r.gmacs); } },
    { key: "roofline", title: "Roofline", number: true, show: function (r) { return percent(r.roofline); } },
    { key: "notes", title: "Notes", className: "notes" },
  ].filter(function (c) { return !c.hidden; });

  function cellValue(column, row) { return column.value ? column.value(row) : row[column.key]; }

  const table = document.getElementById("table");
  const headRow = document.createElement("tr");
  COLUMNS.forEach(function (column) {
    const th = document.createElement("th");
    th.dataset.key = column.key;
    th.setAttribute("aria-sort", "none");
    const button = element("button", column.title);
    button.type = "button";
    button.addEventListener("click", function () { sortBy(column, th); });
    th.appendChild(button);
    headRow.appendChild(th);
  });
  table.tHead.appendChild(headRow);
  const body = table.tBodies[0];
  rows.forEach(function (row) {
    const tr = document.createElement("tr");
    tr.dataset.index = String(row.index);
    if (row.baseline) tr.className = "baseline";
    if (row.contended || row.unstable) tr.className += " flagged";
    COLUMNS.forEach(function (column) {
      const text = column.show ? column.show(row) : cellValue(column, row);
      const kind = column.className || (column.number ? "num" : column.key === "flags" ? "flags" : "text");
      const cell = tr.appendChild(element("td", text, kind));
      if (kind === "text" && String(text).length > 24) cell.title = String(text);  // cut short with an ellipsis
    });
    row.tr = tr;
  });
  // The rows a first screen shows go in before the first frame, the rest right after it: laying out
  // thousands of rows takes longer than drawing everything else, and need not delay the first view.
  const FIRST = 60;
  let attached = false;
  function attach(list) {
    const fragment = document.createDocumentFragment();
    list.forEach(function (row) { fragment.appendChild(row.tr); });
    body.appendChild(fragment);
  }
  function attachAll() {
    if (attached) return;
    attached = true;
    attach(rows.slice(FIRST));
  }
  attach(rows.slice(0, FIRST));

  function sortBy(column, th) {
    attachAll();
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    headRow.querySelectorAll("th").forEach(function (other) { other.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const direction = ascending ? 1 : -1;
    const sorted = rows.slice().sort(function (a, b) {
      const x = cellValue(column, a), y = cellValue(column, b);
      const xMissing = x === null || x === "", yMissing = y === null || y === "";
      if (xMissing || yMissing) return xMissing === yMissing ? a.index - b.index : xMissing ? 1 : -1;  // missing last
      const order = column.number ? x - y : String(x).localeCompare(String(y), "en", { numeric: true });
      return order !== 0 ? direction * order : a.index - b.index;
    });
    const reordered = document.createDocumentFragment();
    sorted.forEach(function (row) { reordered.appendChild(row.tr); });
    body.appendChild(reordered);
  }

  // ---- the filters --------------------------------------------------------------------------
  const FILTERS = [["shape", "Shape"], ["runtime", "Runtime"], ["dtype", "Dtype"], ["threads", "Threads"]];
  if (machines.length > 1) FILTERS.unshift(["machine", "Machine"]);
  const filterBar = document.getElementById("filters");
  const chosen = {};
  FILTERS.forEach(function (filter) {
    const key = filter[0];
    const label = element("label", filter[1]);
    const select = document.createElement("select");
    select.id = "filter-" + key;
    select.appendChild(element("option", "all (" + unique(rows.map(function (r) { return r[key]; })).length + ")"));
    select.options[0].value = "";
    unique(rows.map(function (r) { return r[key] === null ? "" : String(r[key]); })).forEach(function (value) {
      const option = element("option", value === "" ? "(none)" : value);
      option.value = value;
      select.appendChild(option);
    });
    select.addEventListener("change", function () { chosen[key] = select.selectedIndex > 0 ? select.value : null; update(); });
    label.appendChild(select);
    filterBar.appendChild(label);
  });
  const search = document.createElement("input");
  search.id = "filter-variant";
  search.type = "search";
  search.placeholder = "part of a variant's name";
  search.addEventListener("input", update);
  const searchLabel = element("label", "Variant");
  searchLabel.appendChild(search);
  filterBar.appendChild(searchLabel);
  const reset = element("button", "Show every row");
  reset.type = "button";
  reset.addEventListener("click", function () {
    filterBar.querySelectorAll("select").forEach(function (s) { s.selectedIndex = 0; });
    search.value = "";
    Object.keys(chosen).forEach(function (k) { chosen[k] = null; });
    update();
  });
  filterBar.appendChild(reset);

  function passes(row) {
    for (const key in chosen) {
      if (chosen[key] !== null && chosen[key] !== undefined && (row[key] === null ? "" : String(row[key])) !== chosen[key]) return false;
    }
    const text = search.value.trim().toLowerCase();
    return !text || row.variant.toLowerCase().indexOf(text) >= 0;
  }

  // ---- the charts ---------------------------------------------------------------------------
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"];
  const SHAPES = ["circle", "square", "diamond", "triangle"];
  const variants = unique(rows.map(function (r) { return r.variant; }));
  const styleOf = {};
  variants.forEach(function (v, i) { styleOf[v] = { colour: PALETTE[i % 20], shape: SHAPES[Math.floor(i / 20) % 4] }; });

  function svgNode(tag, attributes, parent) {
    const node = document.createElementNS(SVG, tag);
    for (const name in attributes) node.setAttribute(name, attributes[name]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function marker(shape, x, y, size) {
    if (shape === "square") return "M" + (x - size) + "," + (y - size) + "h" + 2 * size + "v" + 2 * size + "h" + -2 * size + "z";
    if (shape === "diamond") return "M" + x + "," + (y - 1.3 * size) + "l" + 1.3 * size + "," + 1.3 * size + "l" + -1.3 * size + "," + 1.3 * size + "l" + -1.3 * size + "," + -1.3 * size + "z";
    if (shape === "triangle") return "M" + x + "," + (y - 1.3 * size) + "l" + 1.2 * size + "," + 2 * size + "h" + -2.4 * size + "z";
    return "M" + (x - size) + "," + y + "a" + size + "," + size + " 0 1,0 " + 2 * size + ",0a" + size + "," + size + " 0 1,0 " + -2 * size + ",0";
  }
  function logDomain(values) {
    const positive = values.filter(function (v) { return v > 0 && isFinite(v); });
    let low = Math.log10(Math.min.apply(null, positive)), high = Math.log10(Math.max.apply(null, positive));
    if (high - low < 0.5) { const middle = (low + high) / 2; low = middle - 0.25; high = middle + 0.25; }
    const pad = 0.06 * (high - low);
    return [low - pad, high + pad];
  }
  // 1, 2 and 5 of each decade; only the decades where those would sit closer than `room` pixels apart
  function ticks(domain, pixels, room) {
    const decades = domain[1] - domain[0];
    const steps = pixels / decades > 3 * room ? [1, 2, 5] : pixels / decades > room ? [1] : null;
    const every = steps ? 1 : Math.ceil(room * decades / pixels);
    const out = [];
    for (let decade = Math.floor(domain[0]); decade <= Math.ceil(domain[1]); decade++) {
      if (decade % every) continue;
      (steps || [1]).forEach(function (m) {
        const at = decade + Math.log10(m);
        if (at >= domain[0] && at <= domain[1]) out.push(Math.pow(10, at));
      });
    }
    return out;
  }
  function tickText(value) { return String(Number(value.toPrecision(2))); }
  function siTick(value) {
    const steps = [[1e9, "G"], [1e6, "M"], [1e3, "K"]];
    for (let i = 0; i < steps.length; i++) if (value >= steps[i][0] * 0.9995) return tickText(value / steps[i][0]) + steps[i][1];
    return tickText(value);
  }
  function paretoFront(points) {
    const sorted = points.slice().sort(function (a, b) { return a.x - b.x || a.y - b.y; });
    const front = [];
    let best = Infinity;
    sorted.forEach(function (p) { if (p.y < best) { front.push(p); best = p.y; } });
    return front;
  }
  // Rows at equal MACs are spread a little apart on the log axis, as in `convbench plot`.
  function spreadSideways(shown) {
    const byMacs = {};
    shown.forEach(function (row) { (byMacs[row.macs] = byMacs[row.macs] || []).push(row); });
    const x = new Map();
    Object.keys(byMacs).forEach(function (macs) {
      const group = byMacs[macs];
      group.forEach(function (row, k) { x.set(row, row.macs * Math.pow(10, 0.02 * (k - (group.length - 1) / 2))); });
    });
    return x;
  }

  function chart(containerId, shown, spec) {
    const container = document.getElementById(containerId);
    container.textContent = "";
    const width = container.clientWidth || 1000, height = container.clientHeight || 330;
    const margin = { left: 64, right: 16, top: 12, bottom: 44 };
    const svg = svgNode("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": spec.title }, container);
    const points = shown.map(function (row) { return { row: row, x: spec.x(row), y: spec.y(row) }; })
      .filter(function (p) { return p.x > 0 && p.y > 0 && isFinite(p.x) && isFinite(p.y); });
    if (!points.length) {
      const empty = svgNode("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, svg);
      empty.textContent = spec.empty;
      return;
    }
    const xValues = points.map(function (p) { return p.x; }).concat(spec.xExtra || []);
    const yValues = points.map(function (p) { return p.y; });
    points.forEach(function (p) { if (spec.bar) { const bar = spec.bar(p.row); yValues.push(bar[0], bar[1]); } });
    const xd = logDomain(xValues), yd = logDomain(yValues.concat(spec.yExtra || []));
    const X = function (v) { return margin.left + (Math.log10(v) - xd[0]) / (xd[1] - xd[0]) * (width - margin.left - margin.right); };
    const Y = function (v) { return height - margin.bottom - (Math.log10(v) - yd[0]) / (yd[1] - yd[0]) * (height - margin.top - margin.bottom); };
    ticks(xd, width - margin.left - margin.right, 56).forEach(function (t) {
      svgNode("line", { x1: X(t), x2: X(t), y1: margin.top, y2: height - margin.bottom, class: "grid" }, svg);
      svgNode("text", { x: X(t), y: height - margin.bottom + 14, "text-anchor": "middle" }, svg).textContent = spec.xTick(t);
    });
    ticks(yd, height - margin.top - margin.bottom, 16).forEach(function (t) {
      svgNode("line", { x1: margin.left, x2: width - margin.right, y1: Y(t), y2: Y(t), class: "grid" }, svg);
      svgNode("text", { x: margin.left - 6, y: Y(t) + 4, "text-anchor": "end" }, svg).textContent = tickText(t);
    });
    svgNode("path", { d: "M" + margin.left + "," + margin.top + "V" + (height - margin.bottom) + "H" + (width - margin.right), class: "axis", fill: "none" }, svg);
    svgNode("text", { x: (width + margin.left) / 2, y: height - 8, "text-anchor": "middle" }, svg).textContent = spec.xLabel;
    svgNode("text", { x: 14, y: (height - margin.bottom + margin.top) / 2, "text-anchor": "middle",
      transform: "rotate(-90 14 " + (height - margin.bottom + margin.top) / 2 + ")" }, svg).textContent = spec.yLabel;
    if (spec.lines) spec.lines(svg, X, Y, xd, points);
    const marks = svgNode("g", {}, svg);
    points.forEach(function (p) {
      const style = styleOf[p.row.variant], x = X(p.x), y = Y(p.y);
      if (spec.bar) {
        const bar = spec.bar(p.row);
        svgNode("line", { x1: x, x2: x, y1: Y(bar[0]), y2: Y(bar[1]), stroke: style.colour, "stroke-width": 1 }, marks);
      }
      const point = svgNode("path", { d: marker(style.shape, x, y, p.row.baseline ? 5.5 : 4), fill: style.colour,
        stroke: p.row.baseline ? "#000" : "none", "stroke-width": 1.5, class: "point" }, marks);
      point.dataset.index = String(p.row.index);
      if (p.row.contended) {
        svgNode("path", { d: "M" + (x - 6) + "," + (y - 6) + "l12,12m-12,0l12,-12", stroke: "#d00", "stroke-width": 2, "pointer-events": "none" }, marks);
      }
      if (p.row.unstable) {
        svgNode("circle", { cx: x, cy: y, r: 8, fill: "none", stroke: "orange", "stroke-width": 1.5, "pointer-events": "none" }, marks);
      }
    });
  }

  const latencySpec = {
    title: "Latency against MACs, log-log",
    x: null, y: function (row) { return row.latency; },
    bar: function (row) {
      const half = (row.iqr || 0) / 2;
      return [row.latency - Math.min(half, 0.95 * row.latency), row.latency + half];
    },
    xTick: siTick, xLabel: "MACs per image or sequence (exact count, log)", yLabel: "latency (ms, log)",
    empty: "no timed rows among those shown (a run made with --no-timing has none)",
    lines: function (svg, X, Y, xd, points) {
      const front = paretoFront(points);
      if (front.length > 1) {
        svgNode("path", { d: front.map(function (p, i) { return (i ? "L" : "M") + X(p.x) + "," + Y(p.y); }).join(""), class: "front" }, svg);
      }
    },
  };
  function partOf(row) {
    return data.parts.find(function (p) { return p.config === row.config && p.machine === row.machine; }) || {};
  }
  const rooflineSpec = {
    title: "Achieved GMAC/s against arithmetic intensity, log-log",
    x: function (row) { return row.intensity; }, y: function (row) { return row.gmacs; },
    xTick: tickText, xLabel: "arithmetic intensity (MACs per byte moved, log)", yLabel: "achieved GMAC/s (log)",
    empty: "no timed rows with a byte count among those shown",
  };

  function drawCharts(shown) {
    const sideways = spreadSideways(shown.filter(function (r) { return r.latency !== null && r.macs !== null; }));
    latencySpec.x = function (row) { return sideways.get(row); };
    chart("latency-chart", shown, latencySpec);
    const roofs = unique(shown.map(function (r) { return r.machine; }));
    const roof = roofs.length === 1 && shown.length ? partOf(shown[0]).roofline : null;
    rooflineSpec.xExtra = roof ? [roof.peak / roof.bandwidth] : [];
    rooflineSpec.yExtra = roof ? [roof.peak] : [];
    rooflineSpec.lines = roof ? function (svg, X, Y, xd) {
      const ridge = roof.peak / roof.bandwidth, low = Math.pow(10, xd[0]), high = Math.pow(10, xd[1]);
      const at = [low, ridge, high].filter(function (v) { return v >= low && v <= high; });
      svgNode("path", { d: at.map(function (v, i) { return (i ? "L" : "M") + X(v) + "," + Y(Math.min(roof.peak, v * roof.bandwidth)); }).join(""), class: "roof" }, svg);
      svgNode("text", { x: X(Math.max(ridge, low)) + 4, y: Y(roof.peak) - 6 }, svg).textContent =
        "roofline: " + significant(roof.peak) + " GMAC/s, " + significant(roof.bandwidth) + " GB/s";
    } : null;
    chart("roofline-chart", shown, rooflineSpec);
    const note = roofs.length > 1 ? "rows of several machines shown: choose one machine for its roofline" :
      !roof && shown.length ? "this machine was not calibrated: `convbench env --calibrate` draws its roofline" : "";
    if (note) {
      const svg = document.querySelector("#roofline-chart svg");
      svgNode("text", { x: 72, y: 26 }, svg).textContent = note;
    }
  }

  const legend = document.getElementById("legend");
  function drawLegend(shown) {
    legend.textContent = "";
    unique(shown.map(function (r) { return r.variant; })).forEach(function (variant) {
      const item = element("span");
      const swatch = element("span", null, "swatch");
      swatch.style.background = styleOf[variant].colour;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(variant + (styleOf[variant].shape !== "circle" ? " (" + styleOf[variant].shape + ")" : "")));
      legend.appendChild(item);
    });
  }

  // ---- hover details ------------------------------------------------------------------------
  const tooltip = document.getElementById("tooltip");
  function details(row) {
    const part = partOf(row);
    const lines = [[row.variant + (row.baseline ? " (baseline)" : "")],
      [row.shape + "; " + row.runtime + ", " + row.dtype + (row.threads !== null ? ", " + row.threads + " threads" : "")
        + (machines.length > 1 ? "; " + row.machine : "")]];
    lines.push(["MACs " + si(row.macs) + " per " + (row.per || "image") + " (exact count), params " + si(row.params)]);
    if (row.latency !== null) {
      lines.push(["latency " + significant(row.latency) + " ms, IQR " + significant(row.iqr) + " ms"
        + (row.batch !== null ? " (a batch of " + row.batch + ")" : "")]);
    }
    if (row.ratio !== null) {
      lines.push(["latency / " + (part.baseline || "baseline") + " " + times(row.ratio) + (row.low !== null ? ", " + Math.round(100 * (part.confidence || 0.95)) + "% CI "
        + significant(row.low) + "-" + significant(row.high) : "") + (row.verdict ? ": " + row.verdict : "")]);
    }
    if (row.gmacs !== null) lines.push([significant(row.gmacs) + " GMAC/s at " + significant(row.intensity) + " MACs/byte"
      + (row.roofline !== null ? ", " + percent(row.roofline) + " of the roofline" : "")]);
    if (row.contended) lines.push(["CONTENDED: other processes took " + significant(row.contention) + " cores while timing; not a result", "alert"]);
    if (row.unstable) lines.push(["UNSTABLE: the machine changed state while timing", "alert"]);
    if (row.states) lines.push(["per state: " + row.states]);
    if (row.notes) lines.push([row.notes]);
    return lines;
  }
  function showTooltip(event) {
    const index = event.target.dataset ? event.target.dataset.index : undefined;
    if (index === undefined) return;
    tooltip.textContent = "";
    details(rows[Number(index)]).forEach(function (line) { tooltip.appendChild(element("div", line[0], line[1])); });
    tooltip.hidden = false;
    moveTooltip(event);
  }
  function moveTooltip(event) {
    const box = tooltip.getBoundingClientRect();
    const left = event.clientX + 14 + box.width > window.innerWidth ? event.clientX - 14 - box.width : event.clientX + 14;
    const top = Math.min(event.clientY + 14, window.innerHeight - box.height - 4);
    tooltip.style.left = Math.max(4, left) + "px";
    tooltip.style.top = Math.max(4, top) + "px";
  }
  ["latency-chart", "roofline-chart"].forEach(function (id) {
    const container = document.getElementById(id);
    container.addEventListener("mouseover", showTooltip);
    container.addEventListener("mousemove", function (event) { if (!tooltip.hidden) moveTooltip(event); });
    container.addEventListener("mouseout", function (event) { if (event.target.dataset && event.target.dataset.index !== undefined) tooltip.hidden = true; });
  });

  // ---- putting it together ------------------------------------------------------------------
  const shownLine = document.getElementById("shown");
  function update() {
    const shown = [];
    rows.forEach(function (row) {
      const pass = passes(row);
      row.tr.hidden = !pass;
      if (pass) shown.push(row);
    });
    shownLine.textContent = "showing " + shown.length + " of " + rows.length + " rows; click a column's name to sort by it";
    drawCharts(shown);
    drawLegend(shown);
  }
  let resizing = null;
  window.addEventListener("resize", function () { clearTimeout(resizing); resizing = setTimeout(update, 150); });
  update();
  // For `benchmarks/html_report.py` and the browser tests: when the first frame after drawing was
  // painted (from navigation start), the script's own time, and when every row was in and painted.
  const drawn = performance.now() - started;
  function afterNextPaint(callback) { requestAnimationFrame(function () { setTimeout(callback, 0); }); }
  afterNextPaint(function () {
    document.body.dataset.firstFrameMs = String(performance.now());
    document.body.dataset.scriptMs = String(drawn);
    attachAll();
    afterNextPaint(function () { document.body.dataset.completeMs = String(performance.now()); });
  });
})();
