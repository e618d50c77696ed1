// Load the widget manager (about 4.4 MB) only when an explorer comes near the screen, after the
// page has loaded, so chapter pages are ready as fast as text pages (issue 9). The explorers'
// widget state (about 2 MB) is not in the page either (issue 22): book/_ext/fast_pages.py
// writes it to a script that this loads first, and that puts it into the document; the manager
// then renders it (at once, since the document is complete). Paths are relative to this file,
// in _static; the state's path is in #ppnotes-widget-state's data-src, relative to the page.
(function () {
  var here = document.currentScript.src.replace(/widgets-lazy\.js.*$/, "");
  var started = false;

  function load(src, attributes) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      Object.keys(attributes || {}).forEach(function (key) {
        script.setAttribute(key, attributes[key]);
      });
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function widgetState() {
    var link = document.getElementById("ppnotes-widget-state");
    if (!link) return Promise.resolve();
    return load(new URL(link.getAttribute("data-src"), document.baseURI).href);
  }

  function start() {
    if (started) return;
    started = true;
    widgetState()
      .then(function () { return load(here + "requirejs/require.js"); })
      .then(function () { return load(here + "widgets-offline.js"); })
      .then(function () {
        return load(here + "html-manager/embed-amd.js", {
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
