// Live progress of a package upload, and of an install from the update catalog. Without
// this script the forms post normally and the result page says what happened.
(function () {
  if (!window.XMLHttpRequest) return;
  function show(xhr) {
    xhr.onload = function () {
      document.open();
      document.write(xhr.responseText);
      document.close();
    };
  }
  var form = document.getElementById("upload-form");
  var bar = document.getElementById("upload-progress");
  if (form && bar) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      bar.hidden = false;
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) bar.value = Math.floor((100 * e.loaded) / e.total);
      };
      show(xhr);
      xhr.send(new FormData(form));
    });
  }
  // While a catalog install runs: its phase and bytes, asked every half second.
  function follow(el) {
    if (!el || !window.fetch) return;
    var bar = el.querySelector("progress"), text = el.querySelector("span");
    var mib = function (n) { return (n / 1048576).toFixed(1) + " MiB"; };
    function tick() {
      fetch(el.dataset.url, { cache: "no-store", credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) {
          if (p && el.dataset[p.phase]) {
            var line = el.dataset[p.phase] + " " + p.version;
            var counting = p.phase === "downloading" || p.phase === "writing";
            if (p.total > 0 && counting) {
              bar.max = p.total;
              bar.value = p.bytes;
              line += ": " + mib(p.bytes) + " " + el.dataset.of + " " + mib(p.total);
            } else {
              bar.removeAttribute("value");
            }
            text.textContent = line;
          }
          setTimeout(tick, 500);
        })
        .catch(function () { setTimeout(tick, 1000); });
    }
    tick();
  }
  var busy = document.getElementById("install-progress");
  var installs = document.querySelectorAll("form.install-form");
  Array.prototype.forEach.call(installs, function (f) {
    f.addEventListener("submit", function (ev) {
      ev.preventDefault();
      Array.prototype.forEach.call(installs, function (g) {
        Array.prototype.forEach.call(g.querySelectorAll("button"), function (b) {
          b.disabled = true;
        });
      });
      if (busy) busy.hidden = false;
      follow(busy);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", f.action);
      xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
      show(xhr);
      xhr.send(new URLSearchParams(new FormData(f)).toString());
    });
  });
})();
