/* The Usage page's charts: drawn from the JSON the server puts next to each chart, redrawn
   after every htmx swap and after the Back button restores a page from htmx's history. */
(function () {
  "use strict";

  var COLORS = ["#c96442", "#e0a580", "#f1d3bd", "#3b6ea5", "#6a9f58", "#8e6bb0", "#d4a72c",
                "#4fa3a5", "#b5577b", "#7a7a7a"];

  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function fresh(el) {
    if (window.Plotly && el.data) { window.Plotly.purge(el); }
    el.innerHTML = "";  // a history snapshot holds a lifeless copy of the old SVG
    return el;
  }

  var CONFIG = { displayModeBar: false, responsive: true };

  function layout(extra) {
    return Object.assign({
      barmode: "stack",
      margin: { l: 70, r: 10, t: 10, b: 60 },
      legend: { orientation: "h", y: -0.2 },
      hovermode: "closest",
      yaxis: { tickformat: ",d", rangemode: "tozero" },
      xaxis: { type: "category", automargin: true },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)"
    }, extra || {});
  }

  function drawUsage() {
    var el = document.getElementById("usage-chart");
    var data = readJSON("usage-chart-data");
    if (!el || !data || !window.Plotly) { return; }
    var traces = data.traces.map(function (t, i) {
      return {
        type: "bar", name: t.name, x: data.x, y: t.y, text: t.text,
        textposition: "none", hovertemplate: "%{text}<extra></extra>",
        marker: { color: COLORS[i % COLORS.length] }
      };
    });
    window.Plotly.newPlot(fresh(el), traces, layout(), CONFIG).then(function () {
      el.setAttribute("data-ready", "true");
    });
    el.on("plotly_click", function (event) {
      var index = event.points && event.points[0] ? event.points[0].pointIndex : -1;
      if (index < 0 || !data.drills[index]) { return; }
      // The table's link does the navigation, so htmx pushes the URL as for any other link.
      var link = document.querySelector('a[data-drill-index="' + index + '"]');
      if (link) { link.click(); } else { window.location.href = data.drills[index]; }
    });
  }

  function drawRateLimited() {
    var el = document.getElementById("rate-limited-chart");
    var data = readJSON("usage-chart-data");
    if (!el || !data || !window.Plotly) { return; }
    var colors = ["#b42318", "#e07b39", "#7a5af8"];
    var traces = data.rate_limited.map(function (t, i) {
      return { type: "bar", name: t.name, x: data.x, y: t.y, marker: { color: colors[i] },
               hovertemplate: "%{x}<br>" + t.name + ": %{y:,d}<extra></extra>" };
    });
    var most = 0;
    data.x.forEach(function (_, i) {
      var sum = 0;
      data.rate_limited.forEach(function (t) { sum += t.y[i]; });
      most = Math.max(most, sum);
    });
    // Whole requests: small counts get a tick per request rather than 0.5 steps.
    var extra = most < 10 ? { yaxis: { tickformat: ",d", rangemode: "tozero", dtick: 1 } } : {};
    window.Plotly.newPlot(fresh(el), traces, layout(extra), CONFIG);
  }

  function drawLimits() {
    var el = document.getElementById("limits-chart");
    var data = readJSON("limits-chart-data");
    if (!el || !data || !window.Plotly) { return; }
    var traces = [];
    data.models.forEach(function (m, i) {
      var color = COLORS[(i + 3) % COLORS.length];
      traces.push({ type: "scatter", mode: "lines+markers", name: m.name + " input/min",
                    x: data.x, y: m.input, line: { color: color },
                    hovertemplate: "%{x}<br>" + m.name + " peak input/min: %{y:,d}<extra></extra>" });
      if (m.input_limit) {
        traces.push({ type: "scatter", mode: "lines", name: m.name + " input limit",
                      x: data.x, y: data.x.map(function () { return m.input_limit; }),
                      line: { color: color, dash: "dash" },
                      hovertemplate: m.name + " limit: %{y:,d}<extra></extra>" });
      }
    });
    window.Plotly.newPlot(fresh(el), traces, layout({ barmode: undefined }), CONFIG);
  }

  function drawAll() {
    drawUsage();
    drawRateLimited();
    drawLimits();
  }

  // A change of workspace empties the key (the key list follows the workspace); a change of
  // month or day leaves the drill-down. Capture phase: before htmx reads the form.
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (!form || form.id !== "usage-filters") { return; }
    var name = event.target.name;
    if (name === "workspace" && form.elements.api_key) { form.elements.api_key.value = ""; }
    if (name === "month" && form.elements.day) { form.elements.day.value = ""; }
    if ((name === "month" || name === "day" || name === "tz") && form.elements.hour) {
      form.elements.hour.remove();
    }
  }, true);

  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);
  document.addEventListener("htmx:historyRestore", drawAll);
  // Show the page's readable 400 message instead of ignoring the response.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
