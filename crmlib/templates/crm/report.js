// crm-reports: the page's only script, the same bytes on every page (its SHA-256 is the
// one script the page's Content-Security-Policy allows). It makes the tables sortable,
// collapses long ones and keeps their detail columns until asked for; it reads numbers
// from the data-v attributes crmlib wrote and text with textContent, and never turns
// anything from the data into markup or code. Without it (or in print) every table is a
// plain table showing every row and column.
(function () {
  "use strict";
  function cellKey(row, col) {
    var cell = row.cells[col];
    if (!cell) { return null; }
    if (cell.hasAttribute("data-v")) { return parseFloat(cell.getAttribute("data-v")); }
    var text = cell.textContent.trim();
    return text === "" || text === "n/a" ? null : text;
  }
  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") { return a - b; }
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }
  function mark(table) {  // rows past the first data-show ones are the collapsible ones
    var show = parseInt(table.getAttribute("data-show"), 10);
    var rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) { rows[i].classList.toggle("crm-more", i >= show); }
  }
  function sortBy(table, th, col) {
    var body = table.tBodies[0];
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.slice.call(body.rows).map(function (row, i) {
      return { row: row, key: cellKey(row, col), i: i };
    });
    rows.sort(function (x, y) {
      if (x.key === null || y.key === null) {  // missing values last, either direction
        return (x.key === null) - (y.key === null) || x.i - y.i;
      }
      var c = compare(x.key, y.key);
      return (ascending ? c : -c) || x.i - y.i;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    if (table.hasAttribute("data-rows")) { mark(table); }
  }
  // a button that toggles `hidden` on the table: its text says what a click shows
  function toggle(table, hidden, className, closed, opened, before) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = className;
    button.setAttribute("aria-expanded", "false");
    button.textContent = closed;
    table.classList.add(hidden);
    table.parentNode.insertBefore(button, before ? table : table.nextSibling);
    button.addEventListener("click", function () {
      var shut = table.classList.toggle(hidden);
      button.setAttribute("aria-expanded", shut ? "false" : "true");
      button.textContent = shut ? closed : opened;
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.crm-table"), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    if (table.tBodies[0].rows.length > 2) {  // sortable columns
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "crm-sort";
        button.title = "Sort by this column";
        while (th.firstChild) { button.appendChild(th.firstChild); }
        th.appendChild(button);
        button.addEventListener("click", function () { sortBy(table, th, col); });
      });
    }
    if (table.hasAttribute("data-details")) {
      var details = table.getAttribute("data-details");
      toggle(table, "crm-brief", "crm-open crm-columns", "Show " + details + " more columns",
        "Show the key columns", true);
    }
    if (table.hasAttribute("data-rows")) {
      toggle(table, "crm-collapsed", "crm-open", "Show all " + table.getAttribute("data-rows") +
        " rows", "Show the first " + table.getAttribute("data-show") + " rows", false);
    }
  });
})();
