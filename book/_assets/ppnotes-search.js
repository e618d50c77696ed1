// Search result snippets without raw TeX (issue 9): Sphinx builds a snippet from the page's
// HTML source, where math is still "\( ... \)". Turn each formula into readable text.
(function () {
  var SYMBOLS = {
    ell: "ℓ", alpha: "α", beta: "β", gamma: "γ", delta: "δ", Delta: "Δ", epsilon: "ε",
    eta: "η", theta: "θ", lambda: "λ", mu: "μ", pi: "π", rho: "ρ", sigma: "σ", tau: "τ",
    phi: "φ", omega: "ω", infty: "∞", sum: "Σ", to: "→", rightarrow: "→", ne: "≠",
  };
  function plainMath(tex) {
    return tex
      .replace(/\\([a-zA-Z]+)/g, function (all, name) {
        return SYMBOLS.hasOwnProperty(name) ? SYMBOLS[name] : all;
      })
      .replace(/\\(?:frac|dfrac|tfrac)\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, "($1)/($2)")
      .replace(/\\(?:text|mathrm|mathit|mathbf|operatorname)\s*\{([^{}]*)\}/g, "$1")
      .replace(/\\(?:left|right|,|;|!|quad|qquad)/g, " ")
      .replace(/\\times/g, "×").replace(/\\cdot/g, "·").replace(/\\le(q)?/g, "≤")
      .replace(/\\ge(q)?/g, "≥").replace(/\\approx/g, "≈").replace(/\\min/g, "min")
      .replace(/\\max/g, "max").replace(/\\[a-zA-Z]+/g, "").replace(/[{}]/g, "")
      .replace(/\s+/g, " ").trim();
  }
  function stripTex(text) {
    return text
      .replace(/\\\(([\s\S]*?)\\\)/g, function (_, tex) { return plainMath(tex); })
      .replace(/\\\[([\s\S]*?)\\\]/g, function (_, tex) { return plainMath(tex); })
      .replace(/\$\$([\s\S]*?)\$\$/g, function (_, tex) { return plainMath(tex); });
  }
  window.ppnotesStripTex = stripTex;
  function patch() {
    // searchtools.js declares `const Search`: a global binding, not a property of window.
    if (typeof Search === "undefined" || !Search.htmlToText || Search.htmlToText.ppnotes) return;
    var original = Search.htmlToText;
    Search.htmlToText = function () {
      return stripTex(original.apply(this, arguments));
    };
    Search.htmlToText.ppnotes = true;
  }
  // Results in the book's order (issue 22): book/_ext/chinese_search.py gives the search page
  // the documents in table-of-contents order; a page's results keep their score order.
  function orderByBook() {
    var order = window.ppnotesTocOrder;
    if (!order || typeof Scorer === "undefined" || Scorer.ppnotes) return;
    var original = Scorer.score;
    Scorer.score = function (item) {
      var score = original ? original(item) : item[4];
      var place = order.indexOf(item[0]);
      if (place < 0) place = order.length;
      return (order.length - place) * 100000 + Math.max(0, Math.min(score, 99999));
    };
    Scorer.ppnotes = true;
  }
  patch();
  document.addEventListener("DOMContentLoaded", function () {
    patch();
    orderByBook();
  });
})();
