// The Cost page's chart: stacked bars per day (or hour) from #cost-chart-data.
// Amounts are drawn from floats; hover shows the exact decimal strings the server sent.
(function () {
  "use strict";

  function draw() {
    var holder = document.getElementById("cost-chart");
    var source = document.getElementById("cost-chart-data");
    if (!holder || !source || !window.Plotly) return;
    var data = JSON.parse(source.textContent);
    var traces = data.traces.map(function (t) {
      return {
        type: "bar",
        name: t.name,
        marker: { color: t.color },
        x: data.x,
        y: t.y,
        customdata: t.text,
        hovertemplate: "%{x}<br>" + t.name.replace(/%/g, "%%") + ": %{customdata}<extra></extra>",
      };
    });
    var layout = {
      barmode: "stack",
      margin: { t: 10, r: 10, b: 60, l: 60 },
      yaxis: { title: { text: "USD" }, tickprefix: "$", rangemode: "tozero" },
      // automargin: room for the slanted day labels, which were cut off at 40 px.
      xaxis: { type: "category", automargin: true },
      legend: { orientation: "h", y: -0.3 },
      hovermode: "closest",
    };
    window.Plotly.newPlot(holder, traces, layout, { displayModeBar: false, responsive: true });
    if (data.level === "month") {
      holder.style.cursor = "pointer";
      holder.on("plotly_click", function (event) {
        if (!event.points || !event.points.length) return;
        var key = data.keys[event.points[0].pointIndex];
        var form = document.getElementById("cost-filters");
        form.elements.day.value = key;
        window.htmx.trigger(form, "change");
      });
    }
  }

  // A new month starts at its whole-month view: forget a day chosen in the old one.
  document.addEventListener(
    "change",
    function (event) {
      if (event.target && event.target.id === "f-month") {
        var day = document.getElementById("f-day");
        if (day) day.value = "";
      }
    },
    true
  );

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
  // Show the readable 400 message for bad filters instead of ignoring the response.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
