// Sortable tables, the reported-rows toggle and lazy thumbnails; no network, no libraries.
(function () {
  "use strict";
  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) { return null; }
    var raw = cell.getAttribute("data-sort");
    if (raw === null) { raw = cell.textContent.trim(); }
    if (raw === "" || raw === "\u2013") { return null; }
    var num = Number(raw);
    return isNaN(num) ? raw.toLowerCase() : num;
  }
  function sortTable(table, index, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var current = th.getAttribute("aria-sort");
    var numeric = th.getAttribute("data-type") !== "text";
    var dir = current === "descending" ? 1 : (current === "ascending" ? -1 : (numeric ? -1 : 1));
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      return x < y ? -dir : (x > y ? dir : 0);
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.addEventListener("click", function () { sortTable(table, index, th); });
    });
  });
  var toggle = document.getElementById("toggle-reported");
  if (toggle) {
    toggle.addEventListener("change", function () {
      document.body.classList.toggle("hide-reported", !toggle.checked);
    });
  }
  var thumbs = window.MMLW_THUMBS || {};
  document.querySelectorAll("details.sample").forEach(function (d) {
    d.addEventListener("toggle", function () {
      d.querySelectorAll("img[data-sha]").forEach(function (img) {
        var uri = thumbs[img.getAttribute("data-sha")];
        if (uri && !img.getAttribute("src")) { img.setAttribute("src", uri); }
      });
    }, { once: true });
  });
})();
