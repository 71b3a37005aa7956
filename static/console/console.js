// Ask before destructive form submits: <form data-confirm="Delete X?">. Works with or without htmx.
document.addEventListener("submit", function (event) {
  var form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// Tell the console the viewer's time zone so pages show local times (read by console/timezones.py).
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    // IANA names (Europe/Berlin, America/Argentina/Buenos_Aires) are cookie-safe as they are.
    if (zone && /^[A-Za-z0-9_+\/-]+$/.test(zone) && document.cookie.indexOf("tz=" + zone) === -1) {
      document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* an old browser: times stay in UTC, labelled as such */ }
})();

// A table or log that scrolls sideways inside its box (narrow screens) takes the keyboard focus,
// so it can be scrolled with the arrow keys; boxes that fit are left out of the tab order.
(function () {
  function markScrollers(root) {
    var boxes = (root || document).querySelectorAll("main table, main pre");
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      var scrolls = box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("data-scroll-focus", "");
      } else if (!scrolls && box.hasAttribute("data-scroll-focus")) {
        box.removeAttribute("tabindex");
        box.removeAttribute("data-scroll-focus");
      }
    }
  }
  var pending = null;
  function later() { clearTimeout(pending); pending = setTimeout(markScrollers, 100); }
  document.addEventListener("DOMContentLoaded", function () { markScrollers(); });
  window.addEventListener("resize", later);
  document.addEventListener("htmx:afterSettle", function () { markScrollers(); });
})();
