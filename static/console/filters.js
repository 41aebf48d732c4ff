/* The report pages' filter bars: what a change of one filter does to the others, and the
   readable 400 message for filters that can't be shown. */
(function () {
  "use strict";

  // Capture phase: before htmx reads the form.
  document.addEventListener("change", function (event) {
    // The zone search box is no filter: its changes must not send the form.
    if (event.target.hasAttribute && event.target.hasAttribute("data-zone-search")) {
      event.stopPropagation();
      return;
    }
    var form = event.target.form;
    var name = event.target.name;
    if (!form) { return; }
    if (form.id === "usage-filters") {
      // The key list follows the workspace; a new month or day leaves the drill-down.
      if (name === "workspace" && form.elements.api_key) { form.elements.api_key.value = ""; }
      if (name === "month" && form.elements.day) { form.elements.day.value = ""; }
      if ((name === "month" || name === "day" || name === "tz") && form.elements.hour) {
        form.elements.hour.remove();
      }
    }
    // A new month starts at its whole-month view: forget a day chosen in the old one.
    if (form.id === "cost-filters" && name === "month" && form.elements.day) {
      form.elements.day.value = "";
    }
  }, true);

  // The time-zone search: typing narrows the zone select to the names that contain every
  // word typed ("york", "los ang", "asia tok"); Enter chooses the first match.
  function zoneSelect(box) { return document.getElementById(box.getAttribute("data-zone-search")); }

  function narrow(box) {
    var select = zoneSelect(box);
    var words = box.value.toLowerCase().replace(/[_/]/g, " ").split(/\s+/).filter(Boolean);
    var first = null;
    Array.prototype.forEach.call(select.options, function (option) {
      var text = option.value.toLowerCase().replace(/[_/]/g, " ");
      var match = words.every(function (w) { return text.indexOf(w) !== -1; });
      option.hidden = !match && !option.selected;
      if (match && !first) { first = option; }
    });
    Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group) {
      group.hidden = !group.querySelector("option:not([hidden])");
    });
    return first;
  }

  // With script: the zone search shows, and Apply goes (htmx sends every change at once).
  function enhance(root) {
    root.querySelectorAll("[data-zone-search]").forEach(function (box) {
      if (zoneSelect(box)) { box.hidden = false; }
    });
    root.querySelectorAll("[data-apply]").forEach(function (cell) { cell.hidden = true; });
  }

  document.addEventListener("input", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-zone-search")) {
      narrow(event.target);
    }
  });

  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (event.key !== "Enter" || !box.hasAttribute || !box.hasAttribute("data-zone-search")) {
      return;
    }
    event.preventDefault();  // not the form's submit: choose the zone instead
    var first = narrow(box);
    var select = zoneSelect(box);
    if (first && first.value !== select.value) {
      select.value = first.value;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });

  // A phone's open filter bar stays open when htmx replaces it (the next filter is often
  // changed right after the first).
  var openFolds = {};
  document.addEventListener("htmx:beforeSwap", function () {
    document.querySelectorAll("details.filters-fold").forEach(function (fold) {
      openFolds[fold.id] = fold.open;
    });
  });
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("details.filters-fold").forEach(function (fold) {
      if (openFolds[fold.id]) { fold.open = true; }
    });
  });

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:afterSettle", function (event) { enhance(event.target); });

  // Show the page's readable 400 message, and the not-found page of an id this organisation
  // does not have (404, retargeted to the main area by the server), instead of ignoring them.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr && event.detail.xhr.status;
    if (status === 400 || (status === 404 && event.detail.xhr.getResponseHeader("HX-Retarget"))) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
