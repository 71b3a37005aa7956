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
