// Tessera -- progressive enhancement only: every page works without it
// (forms post and pages reload). With it, dialogs open in place and the
// switches flip without a reload.
"use strict";

// The account menu (<details>): close on Escape and on a click outside.
document.addEventListener("keydown", function (e) {
  if (e.key !== "Escape") return;
  document.querySelectorAll("details.usermenu[open]").forEach(function (d) {
    d.removeAttribute("open");
    d.querySelector("summary").focus();
  });
});
document.addEventListener("click", function (e) {
  document.querySelectorAll("details.usermenu[open]").forEach(function (d) {
    if (!d.contains(e.target)) d.removeAttribute("open");
  });
});

// POSTs a form the way the server's JSON contract expects.
function postForm(form, action) {
  var body = new URLSearchParams(new FormData(form));
  return fetch(action || form.action, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Accept": "application/json",
      "Content-Type": "application/x-www-form-urlencoded",
      "X-CSRF-Token": form.elements.csrf.value
    },
    body: body
  }).then(function (r) {
    return r.json().catch(function () { return {}; }).then(function (j) {
      if (!r.ok || !j.success) throw new Error(j.message || ("HTTP " + r.status));
      return j.data;
    });
  });
}

function openModal(dialog) {
  if (dialog.open) dialog.close();
  dialog.showModal();
}

// Tokens page.
(function () {
  var create = document.getElementById("create");
  var opener = document.getElementById("create-open");
  if (!create || !opener) return;
  var form = document.getElementById("create-form");
  var error = document.getElementById("create-error");
  var input = form.elements.description;

  // Copy buttons and "select all" work only with JavaScript: shown by it.
  document.querySelectorAll("button.copy[hidden], input.pick-all[hidden]").forEach(function (b) {
    b.hidden = false;
  });

  // A dialog the server rendered open (no-JS flow, an error, the edit
  // and rotate forms) becomes modal; Escape on edit or rotate goes back
  // to the list, as their Cancel does.
  ["create", "created", "edit", "rotate", "bulk-confirm"].forEach(function (id) {
    var d = document.getElementById(id);
    if (d && d.hasAttribute("open")) openModal(d);
    if (d && (id === "edit" || id === "rotate")) {
      d.addEventListener("cancel", function () {
        window.location.replace("/settings/tokens");
      });
    }
  });

  // The expiry date is asked only when "On a date…" is chosen.
  var choice = document.getElementById("expires-choice");
  var dateLabel = form.querySelector(".expires-date");
  function showDate() {
    dateLabel.hidden = choice.value !== "date";
    form.elements.expires_at.required = choice.value === "date";
  }
  if (choice && dateLabel) {
    choice.addEventListener("change", showDate);
    form.addEventListener("reset", function () { setTimeout(showDate, 0); });
    showDate();
  }

  opener.addEventListener("click", function (e) {
    e.preventDefault();
    form.reset();
    error.hidden = true;
    openModal(create);
    input.focus();
  });
  document.getElementById("create-cancel").addEventListener("click", function (e) {
    e.preventDefault();
    create.close();
    opener.focus();
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    postForm(form).then(function (t) {
      create.close();
      showCreated(t);
    }).catch(function (err) {
      error.textContent = err.message;
      error.hidden = false;
    }).then(function () { button.disabled = false; });
  });

  // The secret lives only in this dialog; OK removes it and reloads the
  // list, where the new row now is.
  function showCreated(t) {
    var d = document.getElementById("created");
    if (!d) {
      d = document.createElement("dialog");
      d.id = "created";
      d.className = "modal";
      d.setAttribute("aria-labelledby", "created-h");
      d.innerHTML = document.getElementById("created-template").innerHTML;
      document.body.appendChild(d);
    }
    d.querySelector("#token-name").textContent = t.description;
    d.querySelector("#token-key").textContent = t.key;
    d.querySelector("#token-secret").textContent = t.token;
    d.querySelector("#token-example .ex-key").textContent = t.key;
    d.querySelector("#token-example .ex-token").textContent = t.token;
    d.querySelector("#token-example .ex-origin").textContent = window.location.origin;
    d.querySelectorAll("button.copy").forEach(function (b) { b.hidden = false; });
    wireCreated(d);
    openModal(d);
  }

  function wireCreated(d) {
    var ok = d.querySelector("#created-ok");
    ok.addEventListener("click", function (e) {
      e.preventDefault();
      d.querySelector("#token-secret").textContent = "";
      d.querySelector("#token-example").textContent = "";
      d.close();
      d.remove();
      // The list as the server renders it, without any secret.
      window.location.replace("/settings/tokens");
    });
    d.addEventListener("cancel", function (e) { e.preventDefault(); });
  }
  var rendered = document.getElementById("created");
  if (rendered) wireCreated(rendered);
})();

// Copy buttons: data-copy names the element whose text to copy,
// data-copy-text holds the text itself (a key in the list).
document.addEventListener("click", function (e) {
  var b = e.target.closest && e.target.closest("button.copy");
  if (!b) return;
  var id = b.getAttribute("data-copy");
  var el = id ? document.getElementById(id) : b.parentNode.querySelector("code");
  var text = b.getAttribute("data-copy-text") || el.textContent;
  var label = b.textContent;
  var done = function () {
    b.textContent = "Copied";
    setTimeout(function () { b.textContent = label; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { selectText(b, el); });
  } else {
    selectText(b, el);
  }
});

function selectText(b, code) {
  var range = document.createRange();
  range.selectNodeContents(code);
  var sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
  b.textContent = "Press Ctrl+C";
}

// The notice after a deactivation, with Undo (switches it on again).
function showUndo(button, description) {
  var old = document.getElementById("notice");
  if (old) old.remove();
  var note = document.createElement("div");
  note.className = "note undo";
  note.id = "notice";
  note.setAttribute("role", "status");
  var text = document.createElement("span");
  text.id = "notice-text";
  text.textContent = "“" + description + "” deactivated.";
  var undo = document.createElement("button");
  undo.type = "button";
  undo.id = "undo";
  undo.textContent = "Undo";
  note.appendChild(text);
  note.appendChild(document.createTextNode(" "));
  note.appendChild(undo);
  var err = document.getElementById("switch-error");
  err.parentNode.insertBefore(note, err);
  undo.addEventListener("click", function () {
    flip(button, button.formAction.replace(/\/deactivate$/, "/activate"), function () {
      note.remove();
      button.focus();
    });
  });
}

// Posts one switch's action; updates the row in place (its focus stays
// on the switch); a failure is said inline, not in a browser alert.
function flip(button, action, after) {
  var form = document.getElementById("switches");
  var err = document.getElementById("switch-error");
  var row = button.closest("tr");
  var key = row.getAttribute("data-key");
  var desc = row.querySelector(".desc").textContent;
  button.setAttribute("aria-busy", "true");
  return postForm(form, action).then(function (t) {
    err.hidden = true;
    if (t.cascaded > 0) {
      // Tokens made from it went off too: show the list as it is now,
      // this switch focused, with the notice and Undo.
      var u = new URL(window.location.href);
      u.searchParams.set("focus", key);
      if (!t.active) u.searchParams.set("off", key); else u.searchParams.delete("off");
      window.location.replace(u.toString());
      return;
    }
    button.setAttribute("aria-checked", t.active ? "true" : "false");
    button.querySelector(".state").textContent = t.active ? "On" : "Off";
    button.title = t.active ? "Active: click to deactivate" : "Inactive: click to activate";
    row.classList.toggle("active", !!t.active);
    row.classList.toggle("inactive", !t.active);
    button.setAttribute("formaction", "/settings/tokens/" + encodeURIComponent(key) +
      "/" + (t.active ? "deactivate" : "activate"));
    if (after) after(t);
    else if (!t.active) showUndo(button, desc);
    else { var n = document.getElementById("notice"); if (n) n.remove(); }
  }).catch(function (e) {
    err.textContent = "“" + desc + "” could not be changed: " + e.message;
    err.hidden = false;
  }).then(function () {
    button.removeAttribute("aria-busy");
    if (document.activeElement === document.body) button.focus();
  });
}

// Active switches: flip in place. Every switch submits the page's one
// "switches" form (it holds the CSRF token) to its own formaction; the
// button is never disabled, so it keeps the keyboard focus.
document.addEventListener("submit", function (e) {
  var form = e.target;
  var button = e.submitter;
  if (!form.classList || !form.classList.contains("switch-form")) return;
  if (!button || !button.classList.contains("switch")) return;
  e.preventDefault();
  if (button.getAttribute("aria-busy") === "true") return;
  flip(button, button.formAction);
});

// Bulk deactivation: the count of selected rows, "select all", and one
// confirmation naming the count (the dialog the server would render).
(function () {
  var bulk = document.getElementById("bulk");
  var dialog = document.getElementById("bulk-confirm");
  if (!bulk || !dialog) return;
  var count = document.getElementById("bulk-count");
  var all = document.querySelector("input.pick-all");
  function picked() {
    return Array.prototype.slice.call(document.querySelectorAll("input.pick:checked"));
  }
  function update() {
    var n = picked().length;
    if (count) count.textContent = n ? n + " selected" : "";
    if (all) all.checked = n > 0 && n === document.querySelectorAll("input.pick").length;
  }
  document.addEventListener("change", function (e) {
    if (e.target === all) {
      document.querySelectorAll("input.pick").forEach(function (c) { c.checked = all.checked; });
    }
    if (e.target === all || e.target.classList.contains("pick")) update();
  });
  bulk.addEventListener("submit", function (e) {
    e.preventDefault();
    var rows = picked();
    var err = document.getElementById("switch-error");
    if (!rows.length) {
      err.textContent = "Select the tokens to deactivate first.";
      err.hidden = false;
      return;
    }
    err.hidden = true;
    var keys = dialog.querySelector(".bulk-keys");
    var list = dialog.querySelector(".bulk-list");
    keys.textContent = "";
    list.textContent = "";
    rows.forEach(function (c) {
      var h = document.createElement("input");
      h.type = "hidden"; h.name = "keys"; h.value = c.value;
      keys.appendChild(h);
      var li = document.createElement("li");
      li.textContent = c.closest("tr").querySelector(".desc").textContent + " ";
      var code = document.createElement("code");
      code.textContent = c.value;
      li.appendChild(code);
      list.appendChild(li);
    });
    dialog.querySelectorAll(".bulk-n").forEach(function (s) { s.textContent = rows.length; });
    dialog.querySelectorAll(".bulk-s").forEach(function (s) {
      s.textContent = rows.length === 1 ? "" : "s";
    });
    openModal(dialog);
    dialog.querySelector("#bulk-ok").focus();
  });
  dialog.querySelector("#bulk-cancel").addEventListener("click", function (e) {
    if (!dialog.hasAttribute("open")) return;
    if (!document.querySelector("input.pick:checked")) return;  // the server's: follow the link
    e.preventDefault();
    dialog.close();
    document.getElementById("bulk-open").focus();
  });
  update();
})();

// People (/settings/users): the set-password link's Copy button works
// only with JavaScript, so JavaScript shows it.
(function () {
  if (!document.querySelector("main.people-page")) return;
  document.querySelectorAll("button.copy[hidden]").forEach(function (b) {
    b.hidden = false;
  });
})();
