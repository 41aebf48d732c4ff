/* The colour theme: the system's (prefers-color-scheme) unless the person chose light or
   dark with the theme control, a choice kept in localStorage. Loaded in <head> without defer
   so the stored theme is set before the first paint (no flash of the other theme). Charts
   redraw on "meterboard:theme" (console/charts.js). */
(function () {
  "use strict";

  var KEY = "meterboard-theme";
  var root = document.documentElement;

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : "";
    } catch (e) {
      return "";  // storage refused (privacy settings): follow the system
    }
  }

  function apply(theme) {
    if (theme) { root.setAttribute("data-theme", theme); } else { root.removeAttribute("data-theme"); }
    document.dispatchEvent(new CustomEvent("meterboard:theme"));
  }

  apply(stored());

  document.addEventListener("DOMContentLoaded", function () {
    var control = document.getElementById("theme-choice");
    if (!control) { return; }
    var current = stored();
    control.querySelectorAll("input[name=theme]").forEach(function (input) {
      input.checked = input.value === current;
    });
    control.removeAttribute("hidden");
    control.addEventListener("change", function (event) {
      var theme = event.target.value;
      try {
        if (theme) { window.localStorage.setItem(KEY, theme); } else { window.localStorage.removeItem(KEY); }
      } catch (e) { /* not kept, but applied to this page */ }
      apply(theme);
    });
  });

  if (window.matchMedia) {
    var query = window.matchMedia("(prefers-color-scheme: dark)");
    var changed = function () { document.dispatchEvent(new CustomEvent("meterboard:theme")); };
    if (query.addEventListener) { query.addEventListener("change", changed); }
  }
})();
