// The clinician's message form: submit, show where it went, follow its status live.
(function () {
  "use strict";
  var form = document.getElementById("ask");
  if (!form) { return; }
  var launch = form.getAttribute("data-launch");
  var urgent = document.getElementById("urgent");
  var receipt = document.getElementById("receipt");
  var list = document.getElementById("destinations");
  var error = document.getElementById("send-error");
  var source = null;

  function newId() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return String(Date.now()) + "-" + String(Math.random()).slice(2);
  }

  function show(r) {
    if (r.urgentNotice) { urgent.textContent = r.urgentNotice; urgent.hidden = false; }
    list.textContent = "";
    r.handoffs.forEach(function (h) {
      var li = document.createElement("li");
      li.className = "handoff-status";
      li.setAttribute("data-status", h.status);
      var text = "Sent to " + h.wentTo + " (" + h.expectedResponse + "). Status: " + h.status;
      if (h.acknowledgedBy) { text += " by " + h.acknowledgedBy; }
      if (h.overdue) { text += " — overdue, escalated further"; }
      li.textContent = text;
      list.appendChild(li);
    });
    r.tickets.forEach(function (t) {
      var li = document.createElement("li");
      li.textContent = "Service desk ticket requested (" + t.category.toLowerCase() + "): " + t.status;
      list.appendChild(li);
    });
    receipt.hidden = false;
  }

  function follow(id) {
    if (source) { source.close(); }
    source = new EventSource("/api/messages/" + encodeURIComponent(id) + "/events?launch=" + encodeURIComponent(launch));
    source.addEventListener("snapshot", function (ev) { show(JSON.parse(ev.data)); });
  }

  var pendingId = null;
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    error.hidden = true;
    var text = document.getElementById("message").value;
    pendingId = pendingId || newId();
    fetch("/api/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Chartdesk-Launch": launch, "Accept": "application/json" },
      body: JSON.stringify({ client_message_id: pendingId, text: text })
    }).then(function (r) {
      return r.json().then(function (j) { return { status: r.status, body: j }; });
    }).then(function (res) {
      if (res.status === 200 || res.status === 201) {
        pendingId = null;
        document.getElementById("message").value = "";
        show(res.body);
        follow(res.body.messageId);
      } else {
        error.textContent = (res.body.error && (res.body.error.detail || res.body.error.message)) || "The message could not be sent.";
        error.hidden = false;
      }
    }).catch(function () {
      error.textContent = "The message could not be sent (network). It is kept here; send again to retry — it will not be duplicated.";
      error.hidden = false;
    });
  });
}());
