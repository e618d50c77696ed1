// "Show all code" (issue 22): book/_ext/code_folding.py folds every code cell's source and
// puts one button under a chapter's title. The button shows the cells that hold only code and
// opens every fold; pressed again, it folds them back. The choice is kept for the next page.
(function () {
  var KEY = "ppnotes-show-code";
  var CLASS = "ppnotes-show-code";

  function folds() {
    return document.querySelectorAll("details.hide.above-input");
  }

  function apply(button, shown) {
    document.documentElement.classList.toggle(CLASS, shown);
    folds().forEach(function (d) { d.open = shown; });
    button.setAttribute("aria-pressed", shown ? "true" : "false");
    var n = button.getAttribute("data-cells");
    button.textContent = (shown ? "Hide all code" : "Show all code") + " (" + n + " cells)";
  }

  function remembered() {
    try { return window.localStorage.getItem(KEY) === "1"; } catch (e) { return false; }
  }

  function remember(shown) {
    try { window.localStorage.setItem(KEY, shown ? "1" : "0"); } catch (e) { /* private mode */ }
  }

  function init() {
    var button = document.querySelector(".ppnotes-code-toggle button");
    if (!button) return;
    if (remembered()) apply(button, true);
    button.addEventListener("click", function () {
      var shown = button.getAttribute("aria-pressed") !== "true";
      apply(button, shown);
      remember(shown);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
