/* Copy buttons: <button data-copy="#id"> copies the value (or text) of the element it names.
   The buttons are hidden in the HTML and shown here, since without script they could not act;
   the text stays selectable either way. */
(function () {
  "use strict";

  function source(button) {
    return document.querySelector(button.getAttribute("data-copy"));
  }

  function show(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      if (source(button)) { button.hidden = false; }
    });
  }

  function copied(button) {
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    button.textContent = "Copied";
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) { return; }
    var el = source(button);
    if (!el) { return; }
    var text = "value" in el && el.tagName !== "BUTTON" ? el.value : el.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button); });
    } else {
      // Plain http (a demo on a LAN address): the Clipboard API is missing; select the
      // text so that Ctrl+C / long-press copies it.
      if (el.select) { el.select(); } else {
        var range = document.createRange();
        range.selectNodeContents(el);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
      }
      try { if (document.execCommand("copy")) { copied(button); } } catch (e) { /* selected */ }
    }
  });

  document.addEventListener("DOMContentLoaded", function () { show(document); });
  document.addEventListener("htmx:afterSettle", function (event) { show(event.target); });
})();
