// Load the widget manager (about 4.4 MB) only when an explorer comes near the screen, after the
// page has loaded, so chapter pages are ready as fast as text pages (issue 9). The explorers'
// widget state stays in the page; the manager renders it when it arrives (it renders at once
// when the document is already complete). Paths are relative to this file, in _static.
(function () {
  var here = document.currentScript.src.replace(/widgets-lazy\.js.*$/, "");
  var started = false;

  function load(src, attributes) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = here + src;
      Object.keys(attributes || {}).forEach(function (key) {
        script.setAttribute(key, attributes[key]);
      });
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function start() {
    if (started) return;
    started = true;
    load("requirejs/require.js")
      .then(function () { return load("widgets-offline.js"); })
      .then(function () {
        return load("html-manager/embed-amd.js", {
          "data-jupyter-widgets-cdn": here + "html-manager/",
        });
      });
  }
  window.ppnotesLoadWidgets = start;

  function watch() {
    var views = document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-view+json"]'
    );
    if (!views.length) return;
    if (!("IntersectionObserver" in window)) return start();
    var observer = new IntersectionObserver(
      function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) {
          observer.disconnect();
          start();
        }
      },
      { rootMargin: "1200px 0px" }
    );
    views.forEach(function (view) { observer.observe(view.parentElement); });
  }

  if (document.readyState === "complete") watch();
  else window.addEventListener("load", watch);
})();
