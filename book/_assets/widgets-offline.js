// Make the widget manager work offline with the site's own files. Loaded after require.js and
// before html-manager/embed-amd.js, by widgets-lazy.js (see nb_ipywidgets_js in _config.yml).
(function () {
  // 1. embed-amd.js finds its fonts relative to the require.js module
  //    "@jupyter-widgets/html-manager/dist/..."; point that module path at our copy in _static.
  var here = document.currentScript.src.replace(/widgets-offline\.js.*$/, "");
  window.require.config({
    paths: { "@jupyter-widgets/html-manager/dist": here + "html-manager" },
  });
  // 2. The widget manager typesets labels with the MathJax 2 API (MathJax.Hub.Queue); the site
  //    loads MathJax 3. Translate the one call it makes.
  function shim() {
    if (window.MathJax && !window.MathJax.Hub) {
      window.MathJax.Hub = {
        Queue: function (job) {
          var element = job && job[2];
          if (element && window.MathJax.typesetPromise) {
            window.MathJax.typesetPromise([element]);
          }
        },
      };
    }
  }
  // Loaded either in the head (before the page is parsed) or later by widgets-lazy.js.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", shim);
  else shim();
})();
