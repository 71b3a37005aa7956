// Dependency graph (templates/fleet/dependencies.html): pointing at a service, or moving to it with
// the keyboard, lights up its blast radius: everything that calls it, directly or through others.
// The graph is drawn on the server; this only toggles classes (no inline styles, CSP-clean).
(function () {
  "use strict";
  var svg = document.querySelector("svg.dependency-graph");
  if (!svg) return;
  var nodes = {};
  var callers = {};
  svg.querySelectorAll("a.node").forEach(function (node) {
    var id = node.getAttribute("data-node");
    nodes[id] = node;
    var list = node.getAttribute("data-callers");
    callers[id] = list ? list.split(" ") : [];
  });
  var edges = svg.querySelectorAll("path.edge");
  var status = document.getElementById("graph-hover");
  var current = null;

  function radius(id) {
    var seen = {};
    var frontier = [id];
    while (frontier.length) {
      var next = [];
      frontier.forEach(function (at) {
        (callers[at] || []).forEach(function (caller) {
          if (caller !== id && !seen[caller]) {
            seen[caller] = true;
            next.push(caller);
          }
        });
      });
      frontier = next;
    }
    return seen;
  }

  function light(id) {
    if (id === current) return;
    current = id;
    var reached = radius(id);
    svg.classList.add("hovering");
    Object.keys(nodes).forEach(function (key) {
      nodes[key].classList.toggle("hover-source", key === id);
      nodes[key].classList.toggle("hover-radius", !!reached[key]);
    });
    edges.forEach(function (edge) {
      var from = edge.getAttribute("data-from");
      var to = edge.getAttribute("data-to");
      edge.classList.toggle("hover-lit", !!reached[from] && (!!reached[to] || to === id));
    });
    if (status) {
      var count = Object.keys(reached).length;
      status.textContent = nodes[id].getAttribute("data-name") + ": " +
        (count ? count + (count === 1 ? " service depends" : " services depend") + " on it."
               : "nothing depends on it.");
    }
  }

  function clear() {
    current = null;
    svg.classList.remove("hovering");
    svg.querySelectorAll(".hover-source, .hover-radius, .hover-lit").forEach(function (el) {
      el.classList.remove("hover-source", "hover-radius", "hover-lit");
    });
  }

  function nodeOf(target) {
    return target && target.closest ? target.closest("a.node") : null;
  }

  svg.addEventListener("mouseover", function (event) {
    var node = nodeOf(event.target);
    if (node) light(node.getAttribute("data-node"));
  });
  svg.addEventListener("mouseout", function (event) {
    if (!nodeOf(event.relatedTarget)) clear();
  });
  svg.addEventListener("focusin", function (event) {
    var node = nodeOf(event.target);
    if (node) light(node.getAttribute("data-node"));
  });
  svg.addEventListener("focusout", function (event) {
    if (!nodeOf(event.relatedTarget)) clear();
  });
})();
