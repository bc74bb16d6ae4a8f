// Client-side filtering of the problem rows: by status, code, reason, and free text.
(function () {
  "use strict";
  var table = document.getElementById("problem-table");
  if (!table) { return; }
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
  var status = document.getElementById("f-status");
  var code = document.getElementById("f-code");
  var reason = document.getElementById("f-reason");
  var search = document.getElementById("f-text");
  var shown = document.getElementById("shown-count");
  var none = document.getElementById("no-match");
  var timer = null;

  function apply() {
    var s = status.value, c = code.value, r = reason.value;
    var q = search.value.trim().toLowerCase();
    var count = 0;
    for (var i = 0; i < rows.length; i++) {
      var d = rows[i].dataset;
      var ok = (!s || d.status === s) && (!c || d.code === c) && (!r || d.reason === r) &&
        (!q || texts[i].indexOf(q) !== -1);
      rows[i].hidden = !ok;
      if (ok) { count++; }
    }
    shown.textContent = count.toLocaleString("en");
    none.hidden = count > 0;
  }

  [status, code, reason].forEach(function (el) { el.addEventListener("change", apply); });
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, rows.length > 2000 ? 150 : 0);
  });
  document.getElementById("f-reset").addEventListener("click", function () {
    status.value = ""; code.value = ""; reason.value = ""; search.value = "";
    apply();
  });
})();
