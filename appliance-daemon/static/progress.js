// Live progress after a restart or shutdown request: follow the appliance through
// /api/v1/health. The page says everything needed without this script.
(function () {
  var el = document.getElementById("progress");
  if (!el) return;
  var mode = el.dataset.mode, seenDown = false, started = Date.now();
  function tick() {
    fetch("/api/v1/health", { cache: "no-store" }).then(function (r) {
      if (r.ok && seenDown && mode === "restart") {
        el.textContent = el.dataset.back;
        setTimeout(function () { location.href = "/appliance/login"; }, 1500);
        return;
      }
      el.textContent += ".";
      setTimeout(tick, 2000);
    }).catch(function () {
      seenDown = true;
      if (mode === "shutdown") { el.textContent = el.dataset.off; return; }
      el.textContent += ".";
      setTimeout(tick, 2000);
    });
  }
  setTimeout(tick, 2000);
})();
