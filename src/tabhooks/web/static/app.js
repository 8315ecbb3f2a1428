// tabhooks UI: copy buttons, confirmations, relative times, the live bin view (server-sent
// events) and the self-refreshing delivery timeline. No inline script anywhere: the pages'
// CSP forbids it.
(function () {
  "use strict";

  function copied(button) {
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1200);
  }

  function copyBySelection(source, button) {
    // Where the Clipboard API is missing or refused (plain http on another host).
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try { if (document.execCommand("copy")) copied(button); } catch (e) { /* left selected */ }
  }

  function onCopy(event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    if (!navigator.clipboard) { copyBySelection(source, button); return; }
    navigator.clipboard.writeText(source.textContent).then(
      function () { copied(button); },
      function () { copyBySelection(source, button); }
    );
  }

  // "2 min ago", kept current while the page is open; the server wrote the first words
  // and the absolute UTC time (the title) with the same rules (tabhooks.web.templating).
  function relative(moment, now) {
    var seconds = (now - moment) / 1000;
    var future = seconds < 0;
    seconds = Math.abs(seconds);
    if (seconds < 5) return "just now";
    var units = [[86400, "day"], [3600, "h"], [60, "min"], [1, "s"]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][0]) {
        var count = Math.floor(seconds / units[i][0]);
        var label = count + " " + units[i][1] + (units[i][1] === "day" && count !== 1 ? "s" : "");
        return future ? "in " + label : label + " ago";
      }
    }
    return "just now";
  }

  function refreshTimes(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time.ago[datetime]").forEach(function (node) {
      var moment = Date.parse(node.getAttribute("datetime"));
      if (!isNaN(moment)) node.textContent = relative(moment, now);
    });
  }

  function onSubmit(event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }

  function markDuplicates(list, webhookId) {
    if (!webhookId) return;
    var same = Array.prototype.filter.call(list.querySelectorAll("article.req"), function (card) {
      return card.dataset.webhookId === webhookId;
    });
    if (same.length < 2) return;  // the new card alone is no duplicate
    same.forEach(function (card) { card.classList.add("dup"); });
  }

  function followBin(list) {
    var status = document.querySelector("[data-live-status]");
    var empty = document.getElementById("no-requests");
    function show(text, on) {
      if (!status) return;
      status.textContent = text;
      status.classList.toggle("on", on);
      status.classList.toggle("off", !on);
    }
    if (!window.EventSource) { show("reload to update", false); return; }
    var source = new EventSource(list.dataset.liveStream);
    source.onopen = function () { show("live", true); };
    source.onerror = function () {
      if (source.readyState !== EventSource.CLOSED) { show("reconnecting…", false); return; }
      // Refused (429: the bin or the server has as many live views open as allowed): an
      // EventSource never retries a refusal by itself, so try again a little later.
      show("live view full, retrying…", false);
      setTimeout(function () { followBin(list); }, 15000);
    };
    source.addEventListener("request", function (event) {
      var message = JSON.parse(event.data);
      if (document.getElementById("req-" + message.id)) return;
      var template = document.createElement("template");
      template.innerHTML = message.html;  // rendered and escaped by the server's template
      var card = template.content.firstElementChild;
      if (!card) return;
      card.classList.add("fresh");
      list.prepend(card);
      if (empty) empty.hidden = true;
      markDuplicates(list, message.webhook_id);
    });
    source.addEventListener("cleared", function () {
      list.textContent = "";
      if (empty) empty.hidden = false;
    });
    source.addEventListener("deleted", function () {
      source.close();
      show("bin deleted", false);
    });
  }

  function refresh(panel) {
    var last = null;
    setInterval(function () {
      if (document.hidden) return;
      fetch(panel.dataset.refresh, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null || html === last) return;
          last = html;
          var open = Array.prototype.map.call(
            panel.querySelectorAll("details[open]"),
            function (d) { return d.parentElement && d.parentElement.id; }
          );
          panel.innerHTML = html;
          refreshTimes(panel);
          open.forEach(function (id) {
            var holder = id && document.getElementById(id);
            var details = holder && holder.querySelector("details");
            if (details) details.open = true;
          });
        })
        .catch(function () { /* next tick tries again */ });
    }, 2000);
  }

  document.addEventListener("click", onCopy);
  document.addEventListener("submit", onSubmit);
  document.addEventListener("DOMContentLoaded", function () {
    var list = document.querySelector("[data-live-stream]");
    if (list) followBin(list);
    var panel = document.querySelector("[data-refresh]");
    if (panel) refresh(panel);
    refreshTimes(document);
    setInterval(function () { if (!document.hidden) refreshTimes(document); }, 15000);
  });
})();
