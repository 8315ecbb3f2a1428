// tabhooks bin page: select a captured request by click or keyboard (↑/↓, j/k) and show it in
// the detail pane. Without this script every row is a link to ?request=<id>, which the server
// renders selected; with it, the pane is fetched and swapped in place and the address bar
// keeps ?request=<id>, so the link in it opens the same request. Live arrivals (app.js adds
// them at the top of the list) never move the selection; the first one is selected when
// nothing is. The pane's HTML is rendered and escaped by the server's template.
(function () {
  "use strict";

  function start(list, pane) {
    var asked = 0;  // the latest pane asked for: an older answer arriving late is dropped

    function rows() { return Array.prototype.slice.call(list.querySelectorAll("article.req")); }

    function mark(id) {
      rows().forEach(function (row) {
        var on = row.dataset.id === id;
        row.classList.toggle("selected", on);
        var link = row.querySelector("a.req-row");
        if (!link) return;
        if (on) link.setAttribute("aria-current", "true"); else link.removeAttribute("aria-current");
      });
    }

    function remember(id) {
      var url = new URL(window.location.href);
      url.searchParams.set("request", id);
      url.hash = "";
      window.history.replaceState(null, "", url.toString());
    }

    function show(id) {
      var mine = ++asked;
      pane.setAttribute("aria-busy", "true");
      fetch(pane.dataset.pane + encodeURIComponent(id) + "/pane", { credentials: "same-origin" })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          if (mine !== asked) return;
          pane.innerHTML = html;  // the server's template escaped every captured byte
          pane.dataset.shown = id;
          pane.removeAttribute("aria-busy");
        })
        .catch(function () {
          if (mine !== asked) return;
          pane.removeAttribute("aria-busy");
          pane.textContent = "Could not load this request; reload the page to try again.";
        });
    }

    function select(row, scroll) {
      if (!row) return;
      var id = row.dataset.id;
      mark(id);
      remember(id);
      if (scroll) row.scrollIntoView({ block: "nearest" });
      if (pane.dataset.shown === id) return;
      // A live row brought its pane along (inert in a <template>): used once, then fetched.
      var kept = row.querySelector("template.pane");
      if (!kept) { show(id); return; }
      asked++;
      pane.removeAttribute("aria-busy");
      pane.replaceChildren(kept.content);
      kept.remove();
      pane.dataset.shown = id;
    }

    function step(by) {
      var all = rows();
      if (!all.length) return;
      var at = all.findIndex(function (row) { return row.classList.contains("selected"); });
      var next = at < 0 ? 0 : Math.min(Math.max(at + by, 0), all.length - 1);
      select(all[next], true);
      var link = all[next].querySelector("a.req-row");
      if (link) link.focus({ preventScroll: true });
    }

    list.addEventListener("click", function (event) {
      var link = event.target.closest("a.req-row");
      if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
        return;  // a middle click or ctrl-click opens the link in a new tab, as links do
      }
      event.preventDefault();
      select(link.closest("article.req"), false);
    });

    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.metaKey || event.ctrlKey || event.altKey) return;
      var target = event.target;
      if (target.closest && target.closest("input, textarea, select, [contenteditable], details.settings")) return;
      var by = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1 }[event.key];
      if (!by) return;
      event.preventDefault();
      step(by);
    });

    // Live arrivals and a clearing change the list; the selection stays where it is.
    new MutationObserver(function () {
      var all = rows();
      if (!all.length) {
        if (pane.dataset.shown) {
          delete pane.dataset.shown;
          asked++;
          pane.textContent = "";
          var hint = document.createElement("p");
          hint.className = "hint pane-empty";
          hint.textContent = "Select a request to see it here.";
          pane.appendChild(hint);
        }
        return;
      }
      if (!pane.dataset.shown && !pane.hasAttribute("aria-busy")) select(all[0], false);
    }).observe(list, { childList: true });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("requests");
    var pane = document.getElementById("detail");
    if (list && pane && pane.dataset.pane) start(list, pane);
  });
})();
