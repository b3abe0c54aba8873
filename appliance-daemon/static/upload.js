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
      var xhr = new XMLHttpRequest();
      xhr.open("POST", f.action);
      xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
      show(xhr);
      xhr.send(new URLSearchParams(new FormData(f)).toString());
    });
  });
})();
