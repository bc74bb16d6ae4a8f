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

// "Export CSV": the rows the filters show, as a CSV file made here (a Blob; nothing is fetched).
// A cell that a spreadsheet would run as a formula gets a leading apostrophe, as
// pipeline.io.safetext.spreadsheet_text does in Python.
(function () {
  "use strict";
  var table = document.getElementById("problem-table");
  var button = document.getElementById("f-export");
  if (!table || !button) { return; }

  function guarded(value) {
    return /^[=+\-@\t\r]/.test(value) ? "'" + value : value;
  }

  function csvCell(value) {
    var text = guarded(value);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function rowValues(row) {
    var cells = row.cells, d = row.dataset;
    var code = d.code === "-" ? "" : d.code;
    var enhanced = cells[3].textContent.slice(code.length).trim();
    return [cells[1].textContent, cells[0].textContent, d.status, code, enhanced, d.reason,
      cells[5].textContent, cells[6].textContent];
  }

  function exportText() {
    var header = ["row", button.dataset.inputHeader || "input", "presend_status", "presend_code",
      "presend_enhanced", "presend_reason", "presend_detail", "presend_suggestion"];
    var lines = [header.map(csvCell).join(",")];
    var rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      if (!rows[i].hidden) { lines.push(rowValues(rows[i]).map(csvCell).join(",")); }
    }
    return lines.join("\r\n") + "\r\n";
  }

  button.addEventListener("click", function () {
    // A BOM so spreadsheets read the file as UTF-8.
    var blob = new Blob(["\ufeff" + exportText()], { type: "text/csv;charset=utf-8" });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = button.dataset.file || "problems.csv";
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 0);
  });
})();
