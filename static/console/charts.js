// Interactive charts: Chart.js (vendored under static/vendor/chartjs/, see README there) draws
// every <canvas data-chart="KIND" data-source="ID">, reading its figures from the
// <script type="application/json" id="ID"> that Django's json_script wrote beside it.
// Nothing here writes markup styles or <style> elements: the Content Security Policy allows
// neither. The library is loaded only on pages that have a chart, and charts that htmx swaps in
// (the range picker) are drawn the same way. Every chart has a table beside it for no-JS use.
(function () {
  "use strict";

  var libUrl = document.currentScript && document.currentScript.dataset.chartLib;
  var loading = null;

  function loadLibrary() {
    if (window.Chart) return Promise.resolve(window.Chart);
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = libUrl;
        script.onload = function () { resolve(window.Chart); };
        script.onerror = function () { reject(new Error("could not load " + libUrl)); };
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function palette() {
    return {
      ink: cssVar("--ink", "#1d2330"),
      muted: cssVar("--muted", "#667085"),
      line: cssVar("--line", "#e4e7ec"),
      accent: cssVar("--accent", "#2f5bd3"),
      up: cssVar("--up", "#12805c"),
      degraded: cssVar("--degraded", "#b7791f"),
      down: cssVar("--down", "#c0362c"),
      // Phase bands: distinct hues, none of them the red that means "failed".
      series: ["#2f5bd3", "#0e7490", "#7c3aed", "#b7791f", "#4d7c0f", "#be185d", "#475467", "#0f766e"]
    };
  }

  function fmtMs(value) {
    return value === null || value === undefined ? "no data" : Math.round(value) + " ms";
  }

  function fmtMoney(value, currency) {
    if (value === null || value === undefined) return "—";
    return Number(value).toLocaleString(undefined, {minimumFractionDigits: 2, maximumFractionDigits: 2}) +
      (currency ? " " + currency : "");
  }

  // The line under a chart that repeats the hovered values as text (the tooltip is canvas only).
  function readoutFor(canvas) {
    var figure = canvas.closest("figure");
    return figure ? figure.querySelector(".chart-readout") : null;
  }

  function onHoverReadout(canvas, describe) {
    return function (event, active) {
      var readout = readoutFor(canvas);
      if (readout && active.length) readout.textContent = describe(active[0].index);
    };
  }

  function axes(colors, xTitle, yTitle, extra) {
    var scales = {
      x: {title: {display: true, text: xTitle, color: colors.muted}, grid: {color: colors.line},
          ticks: {color: colors.muted, maxRotation: 0, autoSkip: true}},
      y: {title: {display: true, text: yTitle, color: colors.muted}, beginAtZero: true,
          grid: {color: colors.line}, ticks: {color: colors.muted}}
    };
    if (extra) {
      scales.x.stacked = extra.stacked;
      scales.y.stacked = extra.stacked;
    }
    return scales;
  }

  var builders = {
    latency: function (data, canvas, colors) {
      // Not the status colours (green would read as "up"), and a dash each, so a p99 that runs
      // on top of the p95 still shows.
      var lineColors = [colors.accent, "#7c3aed", "#be185d"];
      var dashes = [[], [6, 3], [2, 3]];
      return {
        type: "line",
        data: {
          labels: data.labels,
          datasets: data.series.map(function (s, i) {
            return {label: s.label, data: s.values, borderColor: lineColors[i % 3],
                    backgroundColor: lineColors[i % 3], borderDash: dashes[i % 3], pointRadius: 2,
                    borderWidth: 2, spanGaps: false, tension: 0};
          })
        },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          interaction: {mode: "index", intersect: false},
          scales: axes(colors, "Time (" + data.zone + ")", "Latency (ms)"),
          plugins: {
            legend: {labels: {color: colors.ink}},
            tooltip: {callbacks: {
              label: function (ctx) { return ctx.dataset.label + ": " + fmtMs(ctx.parsed.y); },
              footer: function (items) {
                var i = items.length ? items[0].dataIndex : 0;
                return data.checks[i] + " checks · uptime " +
                  (data.uptime[i] === null ? "no data" : data.uptime[i] + "%");
              }
            }}
          },
          onHover: onHoverReadout(canvas, function (i) {
            if (!data.checks[i]) return data.labels[i] + ": no data (not checked)";
            return data.labels[i] + ": " + data.series.map(function (s) {
              return s.label + " " + fmtMs(s.values[i]);
            }).join(" · ") + " · " + data.checks[i] + (data.checks[i] === 1 ? " check" : " checks");
          })
        }
      };
    },

    phases: function (data, canvas, colors) {
      return {
        type: "bar",
        data: {
          labels: data.labels,
          datasets: data.series.map(function (s, i) {
            var color = colors.series[i % colors.series.length];
            return {label: s.label, data: s.values, backgroundColor: color,
                    borderColor: data.failed.map(function (f) { return f ? colors.down : color; }),
                    borderWidth: data.failed.map(function (f) { return f ? 2 : 0; })};
          })
        },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          interaction: {mode: "index", intersect: false},
          scales: axes(colors, "Check (" + data.zone + "; ✗ failed)", "Milliseconds", {stacked: true}),
          plugins: {
            legend: {labels: {color: colors.ink}},
            tooltip: {callbacks: {
              label: function (ctx) { return ctx.dataset.label + ": " + fmtMs(ctx.parsed.y); }
            }}
          },
          onHover: onHoverReadout(canvas, function (i) {
            var parts = data.series.filter(function (s) { return s.values[i] !== null; })
              .map(function (s) { return s.label + " " + fmtMs(s.values[i]); });
            return data.labels[i] + (data.failed[i] ? " (failed)" : "") + ": " +
              (parts.length ? parts.join(" · ") : "no phase recorded");
          })
        }
      };
    },

    spend: function (data, canvas, colors) {
      var cur = data.currency;
      return {
        type: "line",
        data: {
          labels: data.labels,
          datasets: [
            {label: "Spend to date", data: data.spend, borderColor: colors.accent,
             backgroundColor: colors.accent, borderWidth: 2, spanGaps: true,
             pointRadius: 3,
             pointStyle: data.sources.map(function (s) { return s === "reported" ? "circle" : "rectRot"; })},
            {label: "Forecast (this month's rate)", data: data.forecast, borderColor: colors.degraded,
             backgroundColor: colors.degraded, borderDash: [6, 4], borderWidth: 2, pointRadius: 0,
             spanGaps: true},
            {label: "Budget", data: data.budget, borderColor: colors.down, backgroundColor: colors.down,
             borderDash: [2, 3], borderWidth: 1.5, pointRadius: 0},
            {label: "Left of the budget (burn-down)", data: data.remaining, borderColor: colors.up,
             backgroundColor: colors.up, borderWidth: 1.5, pointRadius: 0, spanGaps: true}
          ]
        },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          interaction: {mode: "index", intersect: false},
          scales: axes(colors, "Day of " + data.month, "Spend (" + cur + ")"),
          plugins: {
            legend: {labels: {color: colors.ink}},
            tooltip: {callbacks: {
              label: function (ctx) {
                var text = ctx.dataset.label + ": " + fmtMoney(ctx.parsed.y, cur);
                if (ctx.datasetIndex === 0 && data.sources[ctx.dataIndex]) {
                  text += " (" + data.sources[ctx.dataIndex] + ")";
                }
                return text;
              }
            }}
          },
          onHover: onHoverReadout(canvas, function (i) {
            var parts = ["day " + data.labels[i]];
            if (data.spend[i] !== null) {
              parts.push("spent " + fmtMoney(data.spend[i], cur) + " (" + data.sources[i] + ")");
              parts.push("left " + fmtMoney(data.remaining[i], cur));
            } else if (data.forecast[i] !== null) {
              parts.push("forecast " + fmtMoney(data.forecast[i], cur));
            } else {
              parts.push("no spend recorded");
            }
            parts.push("budget " + fmtMoney(data.budget[i], cur));
            return parts.join(" · ");
          })
        }
      };
    }
  };

  function draw(Chart, canvas) {
    if (Chart.getChart(canvas)) return;
    var build = builders[canvas.dataset.chart];
    var source = document.getElementById(canvas.dataset.source);
    if (!build || !source) return;
    var chart = new Chart(canvas, build(JSON.parse(source.textContent), canvas, palette()));
    canvas.dataset.drawn = "true";
    var figure = canvas.closest("figure");
    if (figure) figure.classList.add("chart-drawn");
    return chart;
  }

  function drawWithin(root) {
    if (!root || !root.querySelectorAll) return;
    var canvases = Array.prototype.slice.call(root.querySelectorAll("canvas[data-chart]"));
    if (root.matches && root.matches("canvas[data-chart]")) canvases.push(root);
    if (!canvases.length) return;
    loadLibrary().then(function (Chart) {
      canvases.forEach(function (canvas) { if (canvas.isConnected) draw(Chart, canvas); });
    }, function (error) { console.warn(error.message + "; the tables show the figures"); });
  }

  document.addEventListener("DOMContentLoaded", function () { drawWithin(document); });
  document.addEventListener("htmx:load", function (event) { drawWithin(event.detail.elt); });
  // Back/forward through the range picker. Pages with a chart are not kept in htmx's history
  // cache (hx-history="false" on each figure): a snapshot would carry the sizes Chart.js set
  // through the CSSOM as style="" attributes, which the CSP refuses when htmx parses it back.
  // htmx fetches such a page from the server instead, and its charts are drawn here.
  document.addEventListener("htmx:historyRestore", function () { drawWithin(document); });
})();
