// The dashboard's only script: draws Plotly figures from data attributes and drives the map's month slider.
"use strict";

function drawPlots() {
  if (typeof Plotly === "undefined") return;
  document.querySelectorAll(".plot[data-figure]").forEach(function (el) {
    var fig = JSON.parse(el.getAttribute("data-figure"));
    Plotly.newPlot(el, fig.data, fig.layout, { displaylogo: false, responsive: true });
  });
}

function recolour(month, colours) {
  var byWard = colours[month] || {};
  document.querySelectorAll("svg.map path.ward").forEach(function (path) {
    var c = byWard[path.getAttribute("data-ward")];
    if (!c) return;
    path.setAttribute("fill", c[0]);
    var title = path.querySelector("title");
    if (title) title.textContent = c[1];
    path.setAttribute("aria-label", c[1]);
  });
}

function setUpSlider() {
  var slider = document.getElementById("month");
  if (!slider) return;
  var months = JSON.parse(document.getElementById("map-months").textContent);
  var colours = JSON.parse(document.getElementById("map-colours").textContent);
  var label = document.getElementById("month-label");
  // Wards are reachable by keyboard: each takes focus and reads its hover text.
  document.querySelectorAll("svg.map path.ward").forEach(function (path) {
    path.setAttribute("tabindex", "0");
  });
  function show() {
    var month = months[Number(slider.value)];
    label.textContent = month;
    slider.setAttribute("aria-valuetext", month);
    recolour(month, colours);
    document.querySelectorAll("a.csv, a.month-table, table[data-csv]").forEach(function (el) {
      var attr = el.tagName === "A" ? "href" : "data-csv";
      el.setAttribute(attr, el.getAttribute(attr).replace(/month=[0-9-]+/, "month=" + month));
    });
  }
  slider.addEventListener("input", show);
  show();
}

document.addEventListener("DOMContentLoaded", function () {
  drawPlots();
  setUpSlider();
});
