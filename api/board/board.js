// The live board: open incidents from /api/v1/incidents, kept current by /api/v1/stream.
//
// EventSource can't send an Authorization header, so the stream is read with fetch() and a
// ReadableStream and parsed here (https://html.spec.whatwg.org/multipage/server-sent-events.html).
// Every value shown is user data (labels, titles, comments): it goes into the page with
// textContent / text nodes only, never innerHTML.
"use strict";

(() => {
  const OPEN_STATUSES = ["open", "acknowledged", "escalated", "critical"];
  const KEY_ITEM = "vigil.board.key";
  const ACTOR_ITEM = "vigil.board.actor";
  const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
  const SILENCE_LIMIT_MS = 45000; // the server sends a heartbeat every 15 s: three missed means a dead link
  const LIST_LIMIT = 1000;

  const rows = new Map(); // incident key -> {incident, tr, touched}
  const sent = new Map(); // incident key -> the status a command sent for it leads to
  let selected = null;
  let controller = null;
  let attempt = 0;
  let retryTimer = null;
  let lastByteAt = 0;

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    node.append(...children.map((c) => (c instanceof Node ? c : String(c ?? ""))));
    return node;
  }

  function setState(state, text) {
    $("state").dataset.state = state;
    $("state").textContent = text;
  }

  function say(text, isError) {
    $("message").textContent = text;
    $("message").classList.toggle("error", Boolean(isError));
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "";
  }

  class KeyRefused extends Error {}

  async function problem(response) {
    try {
      const body = await response.json();
      return body.detail || `HTTP ${response.status}`;
    } catch (_) {
      return `HTTP ${response.status}`;
    }
  }

  async function api(path, options) {
    const key = sessionStorage.getItem(KEY_ITEM);
    const headers = {Authorization: `Bearer ${key}`, Accept: "application/json"};
    if (options && options.body) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {...options, headers, cache: "no-store"});
    if (response.status === 401) throw new KeyRefused(await problem(response));
    return response;
  }

  // --- the incidents table ---

  function fromEvent(data) {
    return {...data, updated_at: data.event_time};
  }

  function labelChips(labels) {
    return Object.keys(labels || {}).sort().map((name) => el("span", {class: "label"}, `${name}=${labels[name]}`));
  }

  function render(incident) {
    const ack = el("button", {type: "button", class: "ack"}, "Acknowledge");
    const resolve = el("button", {type: "button", class: "resolve"}, "Resolve");
    ack.disabled = incident.status === "ACKNOWLEDGED";
    ack.addEventListener("click", (e) => { e.stopPropagation(); command(incident.incident_key, "acknowledge"); });
    resolve.addEventListener("click", (e) => { e.stopPropagation(); command(incident.incident_key, "resolve"); });
    const tr = el("tr", {"data-key": incident.incident_key, "data-status": incident.status},
      el("td", {class: "status"}, el("span", {class: `badge status-${incident.status}`}, incident.status)),
      el("td", {class: "severity"}, incident.severity),
      el("td", {class: "title"}, incident.title),
      el("td", {class: "labels"}, ...labelChips(incident.group_labels)),
      el("td", {class: "receiver"}, incident.receiver),
      el("td", {class: "opened"}, when(incident.opened_at)),
      el("td", {class: "firing"}, incident.firing),
      el("td", {class: "actions"}, ack, resolve));
    tr.addEventListener("click", () => showDetail(incident.incident_key));
    if (incident.incident_key === selected) tr.classList.add("selected");
    return tr;
  }

  function upsert(incident, fromStream) {
    const key = incident.incident_key;
    const known = rows.get(key);
    if (known && known.incident.sequence >= incident.sequence) return false; // a duplicate or an older state
    if (incident.status === "RESOLVED") {
      if (known) known.tr.remove();
      rows.delete(key);
      if (fromStream) rows.set(key, {incident, tr: null, touched: performance.now(), gone: true});
    } else {
      const tr = render(incident);
      if (known && known.tr) known.tr.replaceWith(tr);
      rows.set(key, {incident, tr, touched: fromStream ? performance.now() : 0});
    }
    order();
    return true;
  }

  function order() {
    const body = $("incidents").tBodies[0];
    const shown = [...rows.values()].filter((r) => r.tr);
    shown.sort((a, b) => (b.incident.updated_at || "").localeCompare(a.incident.updated_at || ""));
    for (const row of shown) body.append(row.tr); // append moves a row already in the table
    $("empty").hidden = shown.length > 0;
  }

  function clearTable() {
    rows.clear();
    $("incidents").tBodies[0].replaceChildren();
    $("empty").hidden = false;
  }

  async function loadIncidents() {
    const started = performance.now();
    const query = new URLSearchParams(OPEN_STATUSES.map((s) => ["status", s]));
    query.set("limit", String(LIST_LIMIT));
    const response = await api(`/api/v1/incidents?${query}`);
    if (!response.ok) throw new Error(await problem(response));
    const page = await response.json();
    const listed = new Set();
    for (const item of page.items) {
      listed.add(item.incident_key);
      upsert(item, false);
    }
    // What the stream changed after the list was read stays; what the list no longer holds leaves.
    for (const [key, row] of [...rows]) {
      if (!listed.has(key) && row.touched < started) {
        if (row.tr) row.tr.remove();
        rows.delete(key);
      }
    }
    order();
  }

  // --- commands and the timeline ---

  async function command(key, verb) {
    const row = rows.get(key);
    if (row && row.tr) row.tr.classList.add("pending");
    const actor = sessionStorage.getItem(ACTOR_ITEM) || "";
    try {
      const response = await api(`/api/v1/incidents/${encodeURIComponent(key)}/${verb}`, {
        method: "POST", body: JSON.stringify(actor ? {actor} : {})});
      if (response.status === 202) {
        sent.set(key, verb === "acknowledge" ? "ACKNOWLEDGED" : "RESOLVED");
        say(`${verb === "acknowledge" ? "Acknowledgement" : "Resolution"} of ${key} sent; waiting for the worker…`);
      } else {
        if (row && row.tr) row.tr.classList.remove("pending");
        say(`${verb} of ${key} refused: ${await problem(response)}`, true);
      }
    } catch (err) {
      if (row && row.tr) row.tr.classList.remove("pending");
      if (err instanceof KeyRefused) keyRefused(err.message);
      else say(`${verb} of ${key} failed: ${err.message}`, true);
    }
  }

  function fact(dl, name, value) {
    if (value === null || value === undefined || value === "") return;
    dl.append(el("dt", {}, name), el("dd", {}, value));
  }

  function timelineEntry(entry) {
    if (entry.kind === "event") {
      const who = entry.actor ? ` by ${entry.actor}` : "";
      const comment = entry.comment ? ` — ${entry.comment}` : "";
      return el("li", {class: "event"}, el("span", {class: "when"}, when(entry.at)),
        `${entry.previous_status ? entry.previous_status + " → " : ""}${entry.status} (${entry.reason})${who}${comment}`);
    }
    return el("li", {class: "delivery"}, el("span", {class: "when"}, when(entry.at)),
      `page ${entry.action} to ${entry.receiver}: ${entry.status} (attempt ${entry.attempt})`);
  }

  async function showDetail(key) {
    selected = key;
    for (const row of rows.values()) if (row.tr) row.tr.classList.toggle("selected", row.incident.incident_key === key);
    $("detail").hidden = false;
    try {
      const response = await api(`/api/v1/incidents/${encodeURIComponent(key)}`);
      if (selected !== key) return;
      if (response.status === 404) {
        $("detail-title").textContent = key;
        $("detail-facts").replaceChildren();
        $("timeline").replaceChildren(el("li", {}, "Not stored yet; it will show once the sink wrote it."));
        return;
      }
      if (!response.ok) throw new Error(await problem(response));
      const incident = await response.json();
      $("detail-title").textContent = incident.title;
      const dl = $("detail-facts");
      dl.replaceChildren();
      fact(dl, "key", incident.incident_key);
      fact(dl, "status", incident.status);
      fact(dl, "severity", incident.severity);
      fact(dl, "receiver", incident.receiver);
      fact(dl, "opened", when(incident.opened_at));
      fact(dl, "acknowledged", incident.acknowledged_at ? `${when(incident.acknowledged_at)} by ${incident.acknowledged_by}` : "");
      fact(dl, "resolved", incident.resolved_at ? `${when(incident.resolved_at)}${incident.resolved_by ? " by " + incident.resolved_by : ""}` : "");
      fact(dl, "labels", el("span", {}, ...labelChips(incident.group_labels)));
      $("timeline").replaceChildren(...incident.timeline.map(timelineEntry));
    } catch (err) {
      if (err instanceof KeyRefused) keyRefused(err.message);
      else say(`timeline of ${key}: ${err.message}`, true);
    }
  }

  // --- the live stream ---

  function onEvent(type, data) {
    if (type === "overflow") throw new Error("the board fell behind the stream");
    if (type === "revoked") throw new KeyRefused("the key was revoked");
    if (type !== "incident") return;
    const incident = fromEvent(JSON.parse(data));
    if (!upsert(incident, true)) return;
    if (sent.get(incident.incident_key) === incident.status) {
      sent.delete(incident.incident_key);
      say(`${incident.title} (${incident.incident_key}) is ${incident.status.toLowerCase()}.`);
    }
    if (incident.incident_key === selected) showDetail(selected);
  }

  async function readStream(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    let type = "";
    let data = [];
    let connected = false;
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      lastByteAt = performance.now();
      buffer += decoder.decode(value, {stream: true});
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (!connected) {
          connected = true; // the server's first bytes: subscribed, so the list read now misses nothing
          attempt = 0;
          setState("live", "live");
          await loadIncidents();
        }
        if (line === "") {
          if (data.length) onEvent(type || "message", data.join("\n"));
          type = "";
          data = [];
        } else if (line.startsWith(":")) {
          continue; // a comment: the heartbeat
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") type = value;
          else if (field === "data") data.push(value);
        }
      }
    }
  }

  async function connect() {
    clearTimeout(retryTimer);
    if (controller) controller.abort();
    const key = sessionStorage.getItem(KEY_ITEM);
    if (!key) {
      setState("idle", "not connected");
      return;
    }
    const mine = new AbortController();
    controller = mine;
    setState(attempt ? "reconnecting" : "connecting", attempt ? `reconnecting (attempt ${attempt + 1})…` : "connecting…");
    try {
      const response = await fetch("/api/v1/stream?kind=incident", {
        headers: {Authorization: `Bearer ${key}`, Accept: "text/event-stream"}, signal: mine.signal, cache: "no-store"});
      if (response.status === 401) throw new KeyRefused(await problem(response));
      if (!response.ok || !response.body) throw new Error(`the stream answered ${await problem(response)}`);
      lastByteAt = performance.now();
      await readStream(response.body.getReader());
      throw new Error("the stream ended");
    } catch (err) {
      if (controller !== mine) return; // replaced by a newer connection, or the key was forgotten
      if (err instanceof KeyRefused) {
        keyRefused(err.message);
        return;
      }
      mine.abort();
      const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] * (0.8 + Math.random() * 0.4);
      attempt += 1;
      setState("reconnecting", `disconnected (${err.message}); retrying in ${Math.round(delay / 1000)} s`);
      retryTimer = setTimeout(connect, delay);
    }
  }

  function keyRefused(detail) {
    if (controller) controller.abort();
    controller = null;
    setState("refused", "key refused");
    say(`The API refused the key: ${detail}`, true);
    $("key-form").hidden = false;
  }

  function watchdog() {
    if ($("state").dataset.state === "live" && performance.now() - lastByteAt > SILENCE_LIMIT_MS && controller) {
      controller.abort(); // connect()'s catch schedules the reconnect
    }
  }

  // --- the key form ---

  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY_ITEM, $("key").value.trim());
    sessionStorage.setItem(ACTOR_ITEM, $("actor").value.trim());
    $("key").value = "";
    $("key-form").hidden = true;
    $("forget").hidden = false;
    say("");
    attempt = 0;
    connect();
  });

  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_ITEM);
    sessionStorage.removeItem(ACTOR_ITEM);
    const old = controller;
    controller = null;
    if (old) old.abort();
    clearTimeout(retryTimer);
    clearTable();
    $("detail").hidden = true;
    $("key-form").hidden = false;
    $("forget").hidden = true;
    setState("idle", "not connected");
  });

  $("close-detail").addEventListener("click", () => {
    selected = null;
    $("detail").hidden = true;
    for (const row of rows.values()) if (row.tr) row.tr.classList.remove("selected");
  });

  setInterval(watchdog, 5000);
  if (sessionStorage.getItem(KEY_ITEM)) {
    $("key-form").hidden = true;
    $("forget").hidden = false;
    connect();
  }
})();
