/* The report pages' filter bars: what a change of one filter does to the others, and the
   readable 400 message for filters that can't be shown. */
(function () {
  "use strict";

  // Capture phase: before htmx reads the form.
  document.addEventListener("change", function (event) {
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

  // Show the page's readable 400 message instead of ignoring the response.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
