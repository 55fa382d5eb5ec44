// campaigns serve: the drop zone of the Upload page (the rest is plain HTML and htmx).
(function () {
  "use strict";
  function ready() {
    var zone = document.getElementById("drop");
    var input = document.getElementById("sheet-file");
    var shown = document.getElementById("drop-name");
    if (!zone || !input || !shown) return;
    var limit = Number(zone.getAttribute("data-max-bytes") || "0");
    function show() {
      var file = input.files && input.files[0];
      if (!file) { shown.textContent = ""; return; }
      shown.textContent = file.name + (limit && file.size > limit
        ? " is larger than this page accepts (" + limit.toLocaleString() + " bytes)"
        : "");
    }
    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("over");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        show();
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
