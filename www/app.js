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

  // A dialog the server rendered open (no-JS flow, an error, the edit
  // and rotate forms) becomes modal; Escape on edit or rotate goes back
  // to the list, as their Cancel does.
  ["create", "created", "edit", "rotate"].forEach(function (id) {
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
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    postForm(form).then(function (t) {
      create.close();
      showCreated(t.key, t.token);
    }).catch(function (err) {
      error.textContent = err.message;
      error.hidden = false;
    }).then(function () { button.disabled = false; });
  });

  // The secret lives only in this dialog; OK removes it and reloads the
  // list, where the new row now is.
  function showCreated(key, token) {
    var tpl = document.getElementById("created");
    var d = tpl;
    if (!d) {
      d = document.createElement("dialog");
      d.id = "created";
      d.className = "modal";
      d.setAttribute("aria-labelledby", "created-h");
      d.innerHTML = document.getElementById("created-template").innerHTML;
      document.body.appendChild(d);
    }
    d.querySelector("#token-key").textContent = key;
    d.querySelector("#token-secret").textContent = token;
    wireCreated(d);
    openModal(d);
  }

  function wireCreated(d) {
    var ok = d.querySelector("#created-ok");
    ok.addEventListener("click", function (e) {
      e.preventDefault();
      d.querySelector("#token-secret").textContent = "";
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

// Copy buttons.
document.addEventListener("click", function (e) {
  var b = e.target.closest && e.target.closest("button.copy");
  if (!b) return;
  var text = document.getElementById(b.getAttribute("data-copy")).textContent;
  var done = function () {
    b.textContent = "Copied";
    setTimeout(function () { b.textContent = "Copy"; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { selectText(b); });
  } else {
    selectText(b);
  }
});

function selectText(b) {
  var code = document.getElementById(b.getAttribute("data-copy"));
  var range = document.createRange();
  range.selectNodeContents(code);
  var sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
  b.textContent = "Press Ctrl+C";
}

// Active switches: flip in place. Every switch submits the page's one
// "switches" form (it holds the CSRF token) to its own formaction.
document.addEventListener("submit", function (e) {
  var form = e.target;
  var button = e.submitter;
  if (!form.classList || !form.classList.contains("switch-form")) return;
  if (!button || !button.classList.contains("switch")) return;
  e.preventDefault();
  button.disabled = true;
  postForm(form, button.formAction).then(function (t) {
    if (t.cascaded > 0) {
      // Tokens made from it went off too: show the list as it is now.
      window.location.reload();
      return;
    }
    var row = button.closest("tr");
    var key = row.getAttribute("data-key");
    button.setAttribute("aria-checked", t.active ? "true" : "false");
    button.querySelector(".state").textContent = t.active ? "On" : "Off";
    button.title = t.active ? "Active: click to deactivate" : "Inactive: click to activate";
    row.className = t.active ? "active" : "inactive";
    button.setAttribute("formaction", "/settings/tokens/" + encodeURIComponent(key) +
      "/" + (t.active ? "deactivate" : "activate"));
  }).catch(function (err) {
    window.alert("The token could not be changed: " + err.message);
  }).then(function () { button.disabled = false; });
});
