// The handoff inbox: a live list (server-sent events) with acknowledge, claim, note, resolve.
(function () {
  "use strict";
  var root = document.getElementById("inbox");
  if (!root) { return; }
  var launch = root.getAttribute("data-launch");
  var live = document.getElementById("live");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function post(path, body) {
    var init = { method: "POST", headers: { "X-Chartdesk-Launch": launch, "Accept": "application/json" } };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(path, init);
  }

  function render(data) {
    root.textContent = "";
    if (!data.items.length) { root.appendChild(el("p", "muted", "No handoffs.")); return; }
    data.items.forEach(function (item) {
      var h = item.handoff;
      var card = el("article", "handoff" + (item.urgent ? " urgent" : "") + (h.overdue ? " overdue" : ""));
      card.setAttribute("data-handoff", h.id);
      card.setAttribute("data-status", h.status);
      var title = (item.urgent ? "URGENT · " : "") + item.category + " · " + h.status + (h.overdue ? " · OVERDUE (tier " + h.tier + ")" : "");
      card.appendChild(el("h2", null, title));
      var who = item.clinician || {};
      card.appendChild(el("p", "muted", (who.name || "A clinician") + (who.roleText ? ", " + who.roleText : (who.role_text ? ", " + who.role_text : "")) + " · " + (h.unit || "unit unknown") + " · " + item.createdAt + " · respond by " + h.respondBy));
      card.appendChild(el("blockquote", "message-text", item.text));
      if (item.patient) {
        var p = item.patient;
        card.appendChild(el("p", "patient", "Patient: " + [p.name, p.birthDate, p.gender].filter(Boolean).join(" · ") + (p.identifiers ? " · " + p.identifiers.map(function (i) { return (i.label ? i.label + " " : "") + i.value; }).join(", ") : "")));
      }
      if (item.signals && item.signals.length) {
        card.appendChild(el("p", "muted", "Why: " + item.signals.map(function (s) { return s.rule + " \"" + item.text.slice(s.start, s.end) + "\""; }).join("; ")));
      }
      (item.notes || []).forEach(function (n) { card.appendChild(el("p", "note", n.author + ": " + n.text)); });
      if (h.status !== "resolved") {
        var actions = el("p", "actions");
        ["acknowledge", "claim", "resolve"].forEach(function (a) {
          var b = el("button", null, a.charAt(0).toUpperCase() + a.slice(1));
          b.type = "button";
          b.setAttribute("data-action", a);
          b.addEventListener("click", function () { post("/api/handoffs/" + h.id + "/" + a); });
          actions.appendChild(b);
        });
        var note = el("input");
        note.setAttribute("aria-label", "Note");
        note.setAttribute("data-note", h.id);
        var add = el("button", null, "Add note");
        add.type = "button";
        add.addEventListener("click", function () {
          if (note.value.trim()) { post("/api/handoffs/" + h.id + "/notes", { text: note.value }); }
        });
        actions.appendChild(note);
        actions.appendChild(add);
        card.appendChild(actions);
      }
      root.appendChild(card);
    });
  }

  var source = new EventSource("/api/handoffs/events?launch=" + encodeURIComponent(launch));
  source.addEventListener("open", function () { live.textContent = "Live"; });
  source.addEventListener("error", function () { live.textContent = "Reconnecting…"; });
  source.addEventListener("snapshot", function (ev) { live.textContent = "Live"; render(JSON.parse(ev.data)); });
}());
