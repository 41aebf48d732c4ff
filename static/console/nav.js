/* The main menu (<details class="nav-menu"> in base.html) is folded on a phone and always
   shown on a wide screen. console.css does the wide case with ::details-content; where a
   browser does not know that pseudo-element, open the menu here whenever the window is wide. */
(function () {
  "use strict";

  var wide = window.matchMedia("(min-width: 761px)");

  function sync() {
    var menu = document.getElementById("nav-menu");
    if (menu && wide.matches) { menu.open = true; }
  }

  if (window.CSS && CSS.supports && CSS.supports("selector(::details-content)")) { return; }
  document.addEventListener("DOMContentLoaded", sync);
  if (wide.addEventListener) { wide.addEventListener("change", sync); }
})();
