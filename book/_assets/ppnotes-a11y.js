/* Explorers for every reader (issue 22): a slider tells assistive technology its value (the
   readout, e.g. "8"), not the index the widget library reports, and each frame image says which
   settings it shows ("p 4, m 8"). The widget library renders explorers late (widgets-lazy.js),
   so this watches the page and labels whatever appears or changes. */
(function () {
  "use strict";

  function controlText(control) {
    const name = control.querySelector(".widget-label");
    const readout = control.querySelector(".widget-readout");
    const select = control.querySelector("select");
    const value = readout ? readout.textContent : select && select.selectedOptions[0]
      ? select.selectedOptions[0].textContent : "";
    return { name: name ? name.textContent.trim() : "", value: value.trim() };
  }

  function label(root) {
    const parts = [];
    root.querySelectorAll(".widget-hslider, .widget-dropdown, .widget-inline-hbox").forEach((c) => {
      const { name, value } = controlText(c);
      const handle = c.querySelector(".noUi-handle");
      if (handle && value && handle.getAttribute("aria-valuetext") !== value) {
        handle.setAttribute("aria-valuetext", value);
        if (name) handle.setAttribute("aria-label", name);
      }
      if (name || value) parts.push((name + " " + value).trim());
    });
    if (!parts.length) return;
    const alt = "Explorer frame for " + parts.join(", ");
    root.querySelectorAll("img").forEach((img) => {
      if (img.getAttribute("alt") !== alt) img.setAttribute("alt", alt);
    });
  }

  let pending = false;
  function refresh() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      document.querySelectorAll(".cell_output .widget-subarea").forEach(label);
    });
  }

  function start() {
    new MutationObserver(refresh).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
      attributeFilter: ["aria-valuenow", "class"],
    });
    refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
