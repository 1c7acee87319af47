// DataTrac's only script besides htmx: the copy button next to a full hash.
// Loaded from our own origin (the CSP allows no inline script).
(() => {
  "use strict";

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    // Plain-HTTP hosts have no Clipboard API: fall back to a selected textarea.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    try {
      if (!document.execCommand("copy")) throw new Error("copy refused");
    } finally {
      area.remove();
    }
  }

  function selectContents(element) {
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Copy buttons are useless without JavaScript, so they start hidden.
  function revealCopyButtons(root) {
    for (const button of root.querySelectorAll("[data-copy-target]")) button.hidden = false;
  }

  // The lineage graph is drawn at full size in a scrolling frame: bring its centre
  // dataset into the middle of the frame.
  function centreGraphs(root) {
    for (const frame of root.querySelectorAll("[data-graph-frame]")) {
      const centre = frame.querySelector(".node-center rect");
      if (!centre) continue;
      const box = centre.getBoundingClientRect();
      const view = frame.getBoundingClientRect();
      frame.scrollLeft += box.left + box.width / 2 - (view.left + view.width / 2);
      frame.scrollTop += box.top + box.height / 2 - (view.top + view.height / 2);
    }
  }

  function enhance(root) {
    revealCopyButtons(root);
    centreGraphs(root);
  }

  // Back/forward restores htmx's snapshot of the page, whose search box holds whatever
  // was typed when the snapshot was taken; the URL is the truth, so refill from it.
  document.addEventListener("htmx:historyRestore", () => {
    const params = new URLSearchParams(window.location.search);
    for (const input of document.querySelectorAll("form[method=get] input[name]")) {
      if (input.type === "checkbox") {
        input.checked = params.getAll(input.name).includes(input.value);
      } else if (input.type !== "hidden") {
        input.value = params.get(input.name) ?? "";
      }
    }
  });

  document.addEventListener("DOMContentLoaded", () => enhance(document));
  document.addEventListener("htmx:load", (event) => enhance(event.target));

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy-target]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copyTarget);
    if (!source) return;
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    try {
      await copyText(source.textContent.trim());
      button.textContent = "Copied";
      button.classList.add("is-done");
    } catch {
      selectContents(source);
      button.textContent = "Press Ctrl+C";
    }
    window.setTimeout(() => {
      button.textContent = label;
      button.classList.remove("is-done");
    }, 1600);
  });
})();
