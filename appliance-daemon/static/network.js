// The count down to the automatic revert of a network change that is not kept yet. The
// page states the deadline without this script; with it, the seconds count down and, once
// they are over, the page reloads to show that the previous settings came back.
(function () {
  var el = document.getElementById("countdown");
  if (!el) return;
  var end = Date.now() + 1000 * Number(el.dataset.seconds);
  function tick() {
    var left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    el.textContent = String(left);
    if (left > 0) {
      setTimeout(tick, 250);
      return;
    }
    var note = document.createElement("p");
    note.id = "time-up";
    note.textContent = el.dataset.timeUp;
    el.closest("div").appendChild(note);
    // The daemon reverts at the deadline; give it a moment before asking again.
    setTimeout(function () { location.href = "/appliance/network"; }, 2000);
  }
  tick();
})();
