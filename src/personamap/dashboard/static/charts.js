/* Draws every chart of the page: each .chart names the JSON script holding its Plotly figure. */
(function () {
  "use strict";

  function draw(element) {
    var source = document.getElementById(element.getAttribute("data-figure"));
    if (!source) {
      return;
    }
    if (typeof Plotly === "undefined") {
      element.textContent = "The chart library did not load, so this chart cannot be drawn.";
      element.classList.add("chart-missing");
      return;
    }
    var figure = JSON.parse(source.textContent);
    var config = { displaylogo: false, responsive: true };
    Plotly.newPlot(element, figure.data, figure.layout, config).then(function () {
      element.setAttribute("data-rendered", "true");
    });
  }

  function drawAll() {
    var charts = document.querySelectorAll(".chart[data-figure]");
    for (var i = 0; i < charts.length; i += 1) {
      draw(charts[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
