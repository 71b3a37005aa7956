// The alert list refreshes itself every 15 s (htmx). Hold the refresh while someone reads an
// expanded group or types an acknowledgement note, so neither is swept away under them.
document.addEventListener("htmx:beforeRequest", function (event) {
  var list = event.detail && event.detail.elt;
  if (!list || list.id !== "alerts") return;
  var active = document.activeElement;
  var typing = active && list.contains(active) && active.matches("input, textarea, select, button");
  if (typing || list.querySelector("details[open]")) event.preventDefault();
});
