/*
 * Render the math that pymdownx.arithmatex (generic mode) leaves in the page:
 * each formula in its own element, inline as <span class="arithmatex">\(...\)</span>
 * and display as <div class="arithmatex">\[...\]</div>.
 *
 * Material's instant navigation swaps page content without a full reload and
 * re-emits its `document$` observable each time (and once on first load), so
 * rendering hangs off that observable rather than DOMContentLoaded (except on
 * the print page, which loads no theme script: see the end of this file).
 *
 * Errors must be loud. KaTeX keeps its default `throwOnError: true`: with
 * `false` it quietly renders an unknown command such as `\fracx` as red text
 * inside an ordinary `.katex` element. auto-render catches the ParseError,
 * reports it to `errorCallback` and leaves the raw TeX as plain text; here the
 * formula is instead shown as a red `.katex-error` element (KaTeX's own markup
 * for errors: the source, with the message as its title) and logged with
 * console.error. A formula that auto-render cannot even delimit (braces that do
 * not balance before the closing `\)`) is treated the same way.
 *
 * Each element is marked `data-katex="done"` once handled, so a test can wait
 * for rendering to finish without guessing.
 */
(function () {
  "use strict";

  var delimiters = [
    { left: "\\(", right: "\\)", display: false },
    { left: "\\[", right: "\\]", display: true },
  ];

  function showError(node, source, message) {
    var span = document.createElement("span");
    span.className = "katex-error";
    span.title = message;
    span.style.color = "#cc0000";
    span.textContent = source;
    node.replaceChildren(span);
    console.error("KaTeX: cannot render `" + source + "`: " + message);
  }

  function render(root) {
    var nodes = root.querySelectorAll(".arithmatex:not([data-katex])");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var source = node.textContent.trim();
      var failures = [];
      renderMathInElement(node, {
        delimiters: delimiters,
        errorCallback: function (message, error) {
          failures.push(String((error && error.message) || error || message));
        },
      });
      if (failures.length) {
        showError(node, source, failures.join("; "));
      } else if (!node.querySelector(".katex")) {
        showError(node, source, "no formula found (unbalanced braces or delimiters?)");
      }
      node.setAttribute("data-katex", "done");
    }
  }

  /*
   * A heading's math reaches the table of contents and the navigation as plain
   * text, `\(...\)` with the arithmatex element stripped: render it there too.
   */
  function renderNav(root) {
    var links = root.querySelectorAll(".md-nav__link:not([data-katex])");
    for (var i = 0; i < links.length; i++) {
      var link = links[i];
      var source = link.textContent.trim();
      if (source.indexOf("\\(") < 0) continue;
      var failures = [];
      renderMathInElement(link, {
        delimiters: delimiters,
        errorCallback: function (message, error) {
          failures.push(String((error && error.message) || error || message));
        },
      });
      if (failures.length || !link.querySelector(".katex")) {
        showError(link, source, failures.join("; ") || "no formula found");
      }
      link.setAttribute("data-katex", "done");
    }
  }

  function renderAll(doc) {
    var root = doc && doc.body ? doc.body : document.body;
    render(root);
    renderNav(root);
  }

  /*
   * The print page (print_page/) does not load the theme's bundle, so it has no
   * `document$`: there the page is rendered once, when it has been parsed.
   */
  if (typeof document$ !== "undefined") {
    document$.subscribe(renderAll);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { renderAll(document); });
  } else {
    renderAll(document);
  }
})();
