/* Every chart on every page: an element with data-figure="<id>" is drawn from the Plotly
   figure in the JSON script of that id (built by console/charts.py). When the figure has
   drills, clicking a bar opens its finer view through htmx into data-drill-target (the
   server pushes the view's URL, so Back and Forward work as for any link). Charts are
   redrawn after every htmx swap and after Back restores a page from htmx's history. */
(function () {
  "use strict";

  var CONFIG = { displayModeBar: false, responsive: true };

  function open(el, url) {
    var target = el.getAttribute("data-drill-target");
    if (target && window.htmx && document.querySelector(target)) {
      window.htmx.ajax("GET", url, { source: el, target: target, swap: "outerHTML" });
    } else {
      window.location.href = url;
    }
  }

  function token(name) {
    return window.getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // The figure in the page's colours (console.css's tokens), so charts follow the theme.
  function themed(layout) {
    var ink = token("--ink"), muted = token("--muted"), line = token("--line");
    layout.font = Object.assign({}, layout.font, { color: ink });
    ["xaxis", "yaxis"].forEach(function (name) {
      layout[name] = Object.assign({}, layout[name], {
        gridcolor: line, linecolor: line, zerolinecolor: line, tickfont: { color: muted }
      });
    });
    layout.hoverlabel = Object.assign({}, layout.hoverlabel, {
      bgcolor: token("--panel"), bordercolor: line, font: { color: ink }
    });
    return layout;
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-figure"));
    if (!source || !window.Plotly) { return; }
    var figure = JSON.parse(source.textContent);
    themed(figure.layout);
    // As many x labels as fit level at this width (about one per 70 px, at most the
    // figure's own): at 390 px a month's "Nov 10" labels would otherwise overlap.
    if (figure.layout.xaxis && figure.layout.xaxis.nticks) {
      figure.layout.xaxis.nticks = Math.max(2, Math.min(figure.layout.xaxis.nticks,
        Math.floor((el.clientWidth || 700) / 70)));
    }
    if (el.data) { window.Plotly.purge(el); }
    el.innerHTML = "";
    el.removeAttribute("data-ready");
    window.Plotly.newPlot(el, figure.data, figure.layout, CONFIG).then(function () {
      el.setAttribute("data-ready", "true");
    });
    if (figure.drills) {
      el.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        var url = point ? figure.drills[point.pointIndex] : null;
        if (url) { open(el, url); }
      });
    }
  }

  function drawAll() {
    document.querySelectorAll("[data-figure]").forEach(draw);
  }

  // htmx keeps the page's HTML for Back: without the drawn SVGs, whose style attributes the
  // Content-Security-Policy would refuse when htmx puts that HTML back (they are redrawn).
  document.addEventListener("htmx:beforeHistorySave", function () {
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      if (el.data && window.Plotly) { window.Plotly.purge(el); }
      el.innerHTML = "";
      el.removeAttribute("data-ready");
    });
  });

  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);
  document.addEventListener("htmx:historyRestore", drawAll);
  document.addEventListener("meterboard:theme", function () {
    if (document.readyState !== "loading") { drawAll(); }
  });
})();
