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
    control.value = stored();
    control.closest("[hidden]") && control.closest("[hidden]").removeAttribute("hidden");
    control.addEventListener("change", function () {
      try {
        if (control.value) { window.localStorage.setItem(KEY, control.value); } else { window.localStorage.removeItem(KEY); }
      } catch (e) { /* not kept, but applied to this page */ }
      apply(control.value);
    });
  });

  if (window.matchMedia) {
    var query = window.matchMedia("(prefers-color-scheme: dark)");
    var changed = function () { document.dispatchEvent(new CustomEvent("meterboard:theme")); };
    if (query.addEventListener) { query.addEventListener("change", changed); }
  }
})();
