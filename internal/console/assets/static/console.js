// Herald's console: live regions over Server-Sent Events and the fleet's
// filter box. The server renders every fragment (escaped by
// html/template); this only puts it in place.
"use strict";
(function () {
  // A region with data-live="URL" is replaced by each message.
  document.querySelectorAll("[data-live]").forEach(function (el) {
    var es = new EventSource(el.dataset.live);
    es.onmessage = function (e) { el.innerHTML = e.data; applyFilter(); };
    es.addEventListener("done", function () { es.close(); });
  });
  // A table body with data-live-rows="URL" gets each message as a new
  // first row, keeping at most 500.
  document.querySelectorAll("[data-live-rows]").forEach(function (tbody) {
    var es = new EventSource(tbody.dataset.liveRows);
    es.onmessage = function (e) {
      var empty = document.getElementById("no-events");
      if (empty) { empty.remove(); }
      tbody.insertAdjacentHTML("afterbegin", e.data);
      while (tbody.rows.length > 500) { tbody.deleteRow(-1); }
    };
  });
  // The fleet's filter box hides the agents of this page that do not
  // match as one types; submitting it filters every page on the server.
  var box = document.getElementById("filter");
  function applyFilter() {
    if (!box) { return; }
    var q = box.value.trim().toLowerCase();
    document.querySelectorAll("tbody.agent").forEach(function (tb) {
      tb.hidden = q !== "" && tb.textContent.toLowerCase().indexOf(q) < 0;
    });
  }
  if (box) { box.addEventListener("input", applyFilter); }
})();
