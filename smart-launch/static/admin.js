// Policy administration: calls the JSON API with the launch header (no inline script: CSP).
(function () {
  "use strict";
  var editor = document.getElementById("editor");
  if (!editor) { return; }
  var launch = editor.getAttribute("data-launch");
  var result = document.getElementById("result");

  function call(method, path, body) {
    var init = { method: method, headers: { "X-Chartdesk-Launch": launch, "Accept": "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (r) {
      return r.json().then(function (j) { return { status: r.status, body: j }; });
    });
  }

  function show(el, res) {
    if (res.body && res.body.error) {
      el.textContent = res.body.error.message + (res.body.error.detail ? ": " + res.body.error.detail : "");
    } else {
      el.textContent = JSON.stringify(res.body, null, 2);
    }
  }

  document.getElementById("save-draft").addEventListener("click", function () {
    var doc;
    try { doc = JSON.parse(document.getElementById("document").value); } catch (e) {
      result.textContent = "The document is not valid JSON: " + e.message;
      return;
    }
    call("POST", "/api/admin/policy/drafts", { document: doc }).then(function (res) {
      if (res.status === 201) { window.location.reload(); } else { show(result, res); }
    });
  });

  document.body.addEventListener("click", function (ev) {
    var t = ev.target;
    var action = t.getAttribute && t.getAttribute("data-action");
    if (!action) { return; }
    var id = t.getAttribute("data-draft");
    if (action === "preview") {
      var body = {
        role: document.querySelector('[data-preview-role="' + id + '"]').value,
        purpose: document.querySelector('[data-preview-purpose="' + id + '"]').value
      };
      var dep = document.querySelector('[data-preview-department="' + id + '"]').value;
      if (dep) { body.department = dep; }
      call("POST", "/api/admin/policy/drafts/" + id + "/preview", body).then(function (res) {
        show(document.querySelector('[data-preview-out="' + id + '"]'), res);
      });
    } else if (action === "approve" || action === "activate") {
      call("POST", "/api/admin/policy/drafts/" + id + "/" + action).then(function (res) {
        if (res.status === 200) { window.location.reload(); } else { show(result, res); }
      });
    } else if (action === "retry-ticket") {
      var ticket = t.getAttribute("data-ticket");
      t.disabled = true;
      call("POST", "/api/admin/desk/dead-letters/" + encodeURIComponent(ticket) + "/retry").then(function (res) {
        var out = document.getElementById("dead-result");
        if (res.status === 202) {
          var row = document.querySelector('[data-dead-letter="' + ticket + '"]');
          if (row) { row.parentNode.removeChild(row); }
          out.textContent = "Ticket " + ticket + " is queued for delivery again.";
        } else {
          t.disabled = false;
          show(out, res);
        }
      });
    } else if (action === "rollback") {
      call("POST", "/api/admin/policy/versions/" + t.getAttribute("data-version") + "/rollback").then(function (res) {
        if (res.status === 200 || res.status === 202) { window.location.reload(); } else { show(result, res); }
      });
    }
  });
}());
