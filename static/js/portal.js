/* ADS Portal's only script of its own (the CSP allows no inline script).
 *
 * - copy buttons of shortened ids ({% shortid %});
 * - light/dark mode (remembered in localStorage; "auto" follows the system);
 * - the live queue: rows pushed over the websocket keep the analyst's selection and the open
 *   row, new rows only land on the first page of a newest-first queue, and after a reconnect
 *   the visible rows are reloaded once so nothing missed while offline stays stale;
 * - queue keyboard shortcuts: j/k move, enter opens, x selects, a acknowledges, c closes the
 *   selection, ? shows the help;
 * - section tabs ([data-tabs], the strategy page): the table of contents becomes tabs, one panel
 *   shown at a time, the open tab kept in the address (#validation) and followed by in-page links.
 * - "suppress similar": links open its section, and editing previewed conditions disables Save
 *   until they are previewed again (the server checks this too).
 */
(function () {
  "use strict";

  // ------------------------------------------------------------------ copy buttons
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy[data-copy]");
    if (!button) return;
    event.preventDefault();
    var text = button.getAttribute("data-copy");
    var done = function () {
      button.classList.add("copied");
      setTimeout(function () { button.classList.remove("copied"); }, 1200);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "offscreen";
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* nothing to copy with */ }
      document.body.removeChild(area);
    }
  });

  // ------------------------------------------------------------------ theme
  var root = document.documentElement;
  var stored = null;
  try { stored = localStorage.getItem("ads-theme"); } catch (e) { stored = null; }
  if (stored === "dark" || stored === "light") root.setAttribute("data-theme", stored);
  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-theme-toggle]")) return;
    var dark = root.getAttribute("data-theme") === "dark" ||
      (root.getAttribute("data-theme") === "auto" && window.matchMedia("(prefers-color-scheme: dark)").matches);
    var next = dark ? "light" : "dark";
    root.setAttribute("data-theme", next);
    try { localStorage.setItem("ads-theme", next); } catch (e) { /* private mode */ }
  });

  // ------------------------------------------------------------------ section tabs
  // Without this the links are a table of contents over panels all shown: nothing is lost without JS.
  function setUpTabs(nav) {
    var links = Array.prototype.slice.call(nav.querySelectorAll("a[href^='#']"));
    var panels = links.map(function (link) { return document.getElementById(link.getAttribute("href").slice(1)); });
    if (panels.some(function (panel) { return !panel; })) return;
    nav.setAttribute("role", "tablist");
    links.forEach(function (link, i) {
      link.id = "tab-" + panels[i].id;
      link.setAttribute("role", "tab");
      link.setAttribute("aria-controls", panels[i].id);
      panels[i].setAttribute("role", "tabpanel");
      panels[i].setAttribute("aria-labelledby", link.id);
      panels[i].tabIndex = -1;
    });
    function show(index, focusTab) {
      links.forEach(function (link, i) {
        var on = i === index;
        link.setAttribute("aria-selected", on ? "true" : "false");
        link.tabIndex = on ? 0 : -1;
        panels[i].hidden = !on;
      });
      if (focusTab) links[index].focus();
    }
    // The panel that is, or holds, the element the address names (#validation, #run-12).
    function fromHash() {
      var id = decodeURIComponent(window.location.hash.slice(1));
      var target = id && document.getElementById(id);
      if (!target) return -1;
      return panels.findIndex(function (panel) { return panel === target || panel.contains(target); });
    }
    var first = fromHash();
    show(first < 0 ? 0 : first, false);
    nav.addEventListener("click", function (event) {
      var link = event.target.closest("a[role=tab]");
      if (!link) return;
      event.preventDefault();
      show(links.indexOf(link), false);
      history.replaceState(null, "", link.getAttribute("href"));
    });
    nav.addEventListener("keydown", function (event) {
      var index = links.indexOf(document.activeElement);
      if (index < 0) return;
      var next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: links.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      next = (next + links.length) % links.length;
      show(next, true);
      history.replaceState(null, "", links[next].getAttribute("href"));
    });
    window.addEventListener("hashchange", function () {
      var index = fromHash();
      if (index >= 0) show(index, false);
    });
  }
  document.querySelectorAll("[data-tabs]").forEach(setUpTabs);

  // ------------------------------------------------------------------ live queue
  var checked = {};
  var focused = null;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#alert-rows tr.alert-row")); }
  function queue() { return document.getElementById("queue-results"); }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var detail = event.detail || {};
    var fragment = detail.fragment;
    var target = detail.target;
    if (!target) return;
    // Remember what the analyst had selected and where the cursor was, for the row about to be replaced.
    rows().forEach(function (row) {
      var box = row.querySelector("input[name=alert]");
      checked[row.dataset.alert] = !!(box && box.checked);
    });
    if (focused === null) {
      var current = document.querySelector("#alert-rows tr.is-focused");
      focused = current ? current.dataset.alert : null;
    }
    if (target.id === "alert-rows") {
      var q = queue();
      var newRow = fragment && fragment.querySelector && fragment.querySelector("tr.alert-row");
      var live = q && q.dataset.liveInsert === "on";
      if (!live || (newRow && document.getElementById(newRow.id))) {
        event.preventDefault();  // a deep page, an oldest-first sort, or a row we already show
      }
    }
  });

  // A pushed new alert adds a row at the top: the count above the table counts it too.
  function countPushedAlert() {
    var count = document.getElementById("queue-count");
    if (!count || count.dataset.capped === "true") return;  // "more than N" stays true
    var total = (parseInt(count.dataset.count, 10) || 0) + 1;
    count.dataset.count = String(total);
    count.textContent = total + " alert(s) match.";
  }

  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "alert-rows") countPushedAlert();
    rows().forEach(function (row) {
      var box = row.querySelector("input[name=alert]");
      if (box && checked[row.dataset.alert]) box.checked = true;
      if (focused !== null && row.dataset.alert === focused) row.classList.add("is-focused");
    });
    var empty = document.querySelector("#alert-rows tr.empty");
    if (empty && rows().length) empty.parentNode.removeChild(empty);
    focused = null;
    updateSelection();
  });

  var opened = 0;
  document.addEventListener("htmx:wsOpen", function () {
    opened += 1;
    var status = document.getElementById("live-status");
    if (status) { status.textContent = "Live"; status.className = "live on"; }
    if (opened > 1) reloadRows();  // updates sent while we were away are not replayed: reload once
  });
  document.addEventListener("htmx:wsClose", function () {
    var status = document.getElementById("live-status");
    if (status) { status.textContent = "Reconnecting…"; status.className = "live off"; }
  });

  function reloadRows() {
    var q = queue();
    if (!q || !window.htmx) return;
    var keep = {};
    rows().forEach(function (row) {
      var box = row.querySelector("input[name=alert]");
      if (box && box.checked) keep[row.dataset.alert] = true;
    });
    checked = keep;
    window.htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#queue-results", swap: "outerHTML" }).then(function () {
      rows().forEach(function (row) {
        var box = row.querySelector("input[name=alert]");
        if (box && keep[row.dataset.alert]) box.checked = true;
      });
      updateSelection();
    });
  }

  // ------------------------------------------------------------------ selection and bulk bar
  function updateSelection() {
    var count = document.querySelectorAll("#alert-rows input[name=alert]:checked").length;
    var bar = document.getElementById("bulk-bar");
    var label = document.getElementById("selected-count");
    if (label) label.textContent = count ? count + " selected" : "Select alerts for bulk actions";
    if (bar) bar.classList.toggle("has-selection", count > 0);
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("#select-all")) {
      rows().forEach(function (row) {
        var box = row.querySelector("input[name=alert]");
        if (box) box.checked = event.target.checked;
      });
    }
    if (event.target.matches("#alert-rows input[name=alert], #select-all")) updateSelection();
  });
  document.addEventListener("htmx:afterSwap", updateSelection);

  // Reveal the second step of a form (close reason, case title) when its first field asks for it.
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-reveal]");
    if (!select) return;
    var form = select.form;
    form.querySelectorAll("[data-when]").forEach(function (el) {
      el.hidden = el.getAttribute("data-when").split(" ").indexOf(select.value) === -1;
    });
  });

  // ------------------------------------------------------------------ shortcuts help (the button and the ? key)
  function toggleShortcuts() {
    var help = document.getElementById("shortcuts");
    if (!help) return;
    help.hidden = !help.hidden;
    document.querySelectorAll("[data-help-toggle]").forEach(function (button) {
      button.setAttribute("aria-expanded", help.hidden ? "false" : "true");
    });
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-help-toggle]")) toggleShortcuts();
  });

  // ------------------------------------------------------------------ suppress similar
  // A link to a collapsed section (#suppress-similar) opens it; so does arriving with its #hash.
  function openSection(id) {
    var section = id && document.getElementById(id);
    var details = section && (section.matches("details") ? section : section.querySelector("details"));
    if (!details) return false;
    details.open = true;
    section.scrollIntoView({ block: "start", behavior: "smooth" });
    return true;
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-open-details]");
    if (!link) return;
    var popover = link.closest("details.popover");
    if (popover) popover.open = false;
    if (openSection(link.getAttribute("href").slice(1))) event.preventDefault();
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (window.location.hash) openSection(window.location.hash.slice(1));
  });
  // Opening a raw record scrolls it to its first matched field (a long record hides it below the fold).
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.open || !details.querySelector) return;
    var pre = details.querySelector(":scope > pre.json");
    var mark = pre && pre.querySelector("mark");
    if (mark) pre.scrollTop = Math.max(0, mark.offsetTop - 40);  // pre.json is positioned: offsetTop is within it
  }, true);
  // Save is for the conditions whose impact was previewed: changing them asks for a new preview.
  document.addEventListener("input", function (event) {
    var form = event.target.closest("form[data-suppress-form]");
    if (!form || !event.target.matches("[name=cond_value], [name=cond_field], [name=cond_use], [name=scope]")) return;
    var save = form.querySelector("button[data-save]");
    if (save) save.disabled = true;
  });

  // ------------------------------------------------------------------ keyboard
  function focusRow(index) {
    var all = rows();
    if (!all.length) return;
    index = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row) { row.classList.remove("is-focused"); });
    all[index].classList.add("is-focused");
    all[index].scrollIntoView({ block: "nearest" });
  }
  function focusedIndex() {
    return rows().findIndex(function (row) { return row.classList.contains("is-focused"); });
  }
  function submitBulk(action) {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    var select = form.querySelector("select[name=action]");
    if (select) { select.value = action; select.dispatchEvent(new Event("change", { bubbles: true })); }
    if (action === "close") {
      var reason = form.querySelector("[name=reason]");
      if (reason) reason.focus();
      return;  // closing needs a disposition and a reason: the analyst completes the form
    }
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }
  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("alert-rows")) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.metaKey || event.ctrlKey || event.altKey) return;
    var index = focusedIndex();
    var row = rows()[index];
    switch (event.key) {
      case "j": focusRow(index + 1); break;
      case "k": focusRow(index < 0 ? 0 : index - 1); break;
      case "Enter": if (row) window.location.href = row.dataset.href; break;
      case "x":
        if (row) {
          var box = row.querySelector("input[name=alert]");
          if (box) { box.checked = !box.checked; updateSelection(); }
        }
        break;
      case "a": if (!document.querySelector("#alert-rows input[name=alert]:checked") && row) { row.querySelector("input[name=alert]").checked = true; } submitBulk("acknowledge"); break;
      case "c": if (!document.querySelector("#alert-rows input[name=alert]:checked") && row) { row.querySelector("input[name=alert]").checked = true; updateSelection(); } submitBulk("close"); break;
      case "?": toggleShortcuts(); break;
      default: return;
    }
    event.preventDefault();
  });
})();
