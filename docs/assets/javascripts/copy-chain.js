/*
 * A continuation block's copy button copies its whole chain: the code its doc
 * test runs, so that what a reader pastes into a fresh Python runs. Each
 * continuation block names the block it continues (`data-continues`, written
 * by hooks/site.py); when its copy button is clicked, this joins the code of
 * the chain's blocks, one blank line between them (as tests/site/test_copy.py's
 * expected_copy has it), into the block's `data-copy` attribute, which
 * Material's clipboard handler copies in place of the visible code. It runs in the capture phase, before
 * that handler, which listens on the document as the click bubbles.
 */
(function () {
  "use strict";

  function code(block) {
    return block.querySelector("code").textContent.replace(/^\n+|\n+$/g, "");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest('button[data-md-type="copy"], .md-clipboard');
    var block = button && button.closest("[data-continues]");
    if (!block) return;
    var codes = [];
    for (var b = block; b; b = document.getElementById(b.dataset.continues || "")) {
      codes.unshift(code(b));
      if (!b.dataset.continues) break;
    }
    block.setAttribute("data-copy", codes.join("\n\n") + "\n");
  }, true);
})();
