// The live parts of the Sluice Console. Every page works without this file: forms post and the
// server answers with a page. With it, the inbox and the instance timeline follow their SSE
// streams, decisions are posted without a reload, and choices have keyboard shortcuts.
// Everything from the server is put into the page with textContent, never as HTML.

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// Durations as the server writes them (ConsoleTime.span).
function span(milliseconds) {
  const s = Math.max(0, Math.floor(milliseconds / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function tickCountdowns() {
  const now = Date.now();
  for (const node of $$(".countdown[data-deadline]")) {
    const deadline = Date.parse(node.dataset.deadline);
    if (Number.isNaN(deadline)) continue;
    node.textContent = deadline >= now ? `in ${span(deadline - now)}` : `overdue by ${span(now - deadline)}`;
    node.classList.toggle("overdue", deadline < now);
  }
}

// Forms that ask first (cancel, restore). Declining leaves the page as it was; accepting a
// restore adds the confirmation the server asks for (without JavaScript it asks on a page).
function confirmations() {
  for (const form of $$("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
        return;
      }
      if (form.classList.contains("restore") && !form.elements.confirm) {
        form.append(element("input", { type: "hidden", name: "confirm", value: "yes" }));
      }
    });
  }
}

// Queue order of the server (ApprovalItemView.order): deadline, or 1e13 + waiting_since, then id.
function orderOf(item) {
  const deadline = item.deadline ? Date.parse(item.deadline) : NaN;
  const score = Number.isNaN(deadline) ? 1e13 + Date.parse(item.waiting_since || 0) : deadline;
  return `${String(Math.floor(score)).padStart(15, "0")}|${item.instance_id}`;
}

function approvalItem(item, csrf, linkInstance) {
  const id = item.instance_id;
  const metadata = Object.entries(item.metadata || {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const choices = (item.choices && item.choices.length ? item.choices : [{ label: "Yes", value: "yes" }, { label: "No", value: "no" }]);
  const form = element("form", { method: "post", action: `/console/approvals/${encodeURIComponent(id)}/${encodeURIComponent(item.block_id)}`, class: "decide" },
    element("input", { type: "hidden", name: "csrf", value: csrf }),
    element("label", { for: `note-${id}` }, "Note ", element("span", { class: "hint" }, "(optional)")),
    element("input", { id: `note-${id}`, name: "note", maxlength: 1000 }),
    element("div", { class: "choices", role: "group", "aria-label": "Decision" },
      ...choices.map((choice, index) => {
        const key = index < 9 ? String(index + 1) : null;
        return element("button", { type: "submit", name: "value", value: choice.value, "data-shortcut": key, "aria-keyshortcuts": key },
          choice.label ?? choice.value, key ? " " : null, key ? element("kbd", {}, key) : null);
      })));
  const deadline = item.deadline
    ? [ "Due ", element("time", { datetime: item.deadline }, item.deadline), " — ", element("span", { class: "countdown", "data-deadline": item.deadline }, "") ]
    : [ "No deadline" ];
  const li = element("li", { class: `item${item.escalated_at ? " escalated" : ""}`, id: `item-${id}`, "data-instance": id, "data-block": item.block_id, "data-order": orderOf(item) },
    element("article", { class: "card", "aria-labelledby": `prompt-${id}` },
      element("h2", { class: "prompt", id: `prompt-${id}` }, item.prompt ?? ""),
      element("p", { class: "meta" },
        element("span", { class: "sequence" }, item.sequence_name ?? item.sequence_id ?? ""),
        item.tenant_id ? " · " : null, item.tenant_id ? element("span", { class: "tenant" }, `tenant ${item.tenant_id}`) : null,
        item.namespace ? " · " : null, item.namespace ? element("span", { class: "namespace" }, item.namespace) : null,
        " · ", linkInstance ? element("a", { href: `/console/instances/${encodeURIComponent(id)}` }, id) : element("span", {}, id),
        " / ", element("span", { class: "block" }, item.block_id)),
      element("p", { class: "due" }, ...deadline, " · waiting since ", element("time", { datetime: item.waiting_since }, item.waiting_since ?? ""),
        " ", element("span", { class: "badge warn escalation", hidden: !item.escalated_at }, "escalated")),
      metadata.length ? element("dl", { class: "metadata" }, ...metadata.map(([key, value]) =>
        element("div", {}, element("dt", {}, key), element("dd", {}, typeof value === "string" ? value : JSON.stringify(value))))) : null,
      form,
      element("p", { class: "outcome", role: "status", "aria-live": "polite" })));
  return li;
}

function inbox() {
  const list = $("#inbox");
  if (!list) return;
  const csrf = list.dataset.csrf;
  const linkInstance = !!$('a[href="/console/instances"]');
  const total = $("#total");
  const status = $("#live-status");
  let selected = null;

  const items = () => $$("li.item", list);
  const refresh = () => {
    const count = items().filter((li) => !li.classList.contains("settled")).length;
    $("#empty").hidden = items().length > 0;
    if (total && !list.dataset.paged) total.textContent = String(count);
  };
  if ($("a[href*='cursor=']")) list.dataset.paged = "1";

  const select = (li) => {
    for (const other of items()) other.classList.toggle("selected", other === li);
    selected = li;
  };
  const insert = (li) => {
    const after = items().find((other) => other.dataset.order > li.dataset.order);
    list.insertBefore(li, after || null);
    tickCountdowns();
    refresh();
  };

  list.addEventListener("focusin", (event) => {
    const li = event.target.closest("li.item");
    if (li) select(li);
  });

  list.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.classList.contains("decide")) return;
    event.preventDefault();
    const button = event.submitter;
    const li = form.closest("li.item");
    const outcome = $(".outcome", li);
    const body = new URLSearchParams(new FormData(form));
    if (button && button.name) body.set(button.name, button.value);
    for (const b of $$("button", form)) b.disabled = true;
    li.dataset.pending = "1";
    outcome.textContent = "Sending…";
    let answer = null;
    try {
      const response = await fetch(form.action, {
        method: "POST", body, credentials: "same-origin",
        headers: { "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      });
      answer = await response.json().catch(() => null);
      if (response.status === 401) answer = { outcome: "signed-out", message: "Your session has ended: sign in again." };
      else if (!answer || !answer.outcome) answer = { outcome: "error", message: (answer && answer.error) || `The server answered ${response.status}.` };
    } catch {
      answer = { outcome: "error", message: "The server could not be reached; nothing was decided. Try again." };
    }
    outcome.textContent = answer.message;
    li.dataset.outcome = answer.outcome;
    delete li.dataset.pending;
    if (answer.outcome === "applied" || answer.outcome === "queued") {
      li.classList.add("settled", "decided");
      setTimeout(() => { li.remove(); refresh(); }, 1500);
    } else if (answer.outcome === "conflict" || answer.outcome === "gone" || li.dataset.removed) {
      li.classList.add("settled", "lost");
    } else {
      for (const b of $$("button", form)) b.disabled = false;
    }
    refresh();
  });

  // j/k move between items, 1-9 press the selected item's choice; never while typing.
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select")) return;
    const all = items().filter((li) => !li.classList.contains("settled"));
    if (!all.length) return;
    if (!selected || !selected.isConnected || selected.classList.contains("settled")) select(all[0]);
    const index = all.indexOf(selected);
    if (event.key === "j" || event.key === "k") {
      const next = all[Math.min(all.length - 1, Math.max(0, index + (event.key === "j" ? 1 : -1)))];
      select(next);
      next.scrollIntoView({ block: "nearest" });
      $("button", next)?.focus();
      event.preventDefault();
    } else if (/^[1-9]$/.test(event.key)) {
      const button = $(`button[data-shortcut="${event.key}"]`, selected);
      if (button && !button.disabled) {
        event.preventDefault();
        button.focus();
        button.click();
      }
    }
  });

  const source = new EventSource(list.dataset.stream);
  source.addEventListener("open", () => { status.textContent = "Live."; });
  source.addEventListener("error", () => { status.textContent = "Reconnecting…"; });
  source.addEventListener("added", (event) => {
    const item = JSON.parse(event.data);
    if (document.getElementById(`item-${item.instance_id}`)) return;
    insert(approvalItem(item, csrf, linkInstance));
  });
  source.addEventListener("escalated", (event) => {
    const item = JSON.parse(event.data);
    const li = document.getElementById(`item-${item.instance_id}`);
    if (!li) { insert(approvalItem(item, csrf, linkInstance)); return; }
    li.classList.add("escalated");
    const badge = $(".escalation", li);
    if (badge) badge.hidden = false;
  });
  source.addEventListener("removed", (event) => {
    const { instance_id: id, block_id: block } = JSON.parse(event.data);
    const li = document.getElementById(`item-${id}`);
    if (!li || li.dataset.block !== block) return;
    // An item with a decision in flight, or whose outcome is on screen, stays until the reader
    // has seen the answer (its own decision goes after a moment, a lost race stays).
    if (li.dataset.pending || li.classList.contains("settled")) {
      li.dataset.removed = "1";
      return;
    }
    li.remove();
    refresh();
  });
  if (items().length) select(items()[0]);
  refresh();
}

function eventRow(type, id, data) {
  const ms = Number(String(id).split("-")[0]);
  const time = Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : "";
  const by = data && data.by ? ` by ${data.by}` : "";
  let summary = type;
  let detail = null;
  if (type === "state") summary = `state ${data.state}${by}`;
  else if (type === "output") {
    summary = `output of ${data.block_id}${by}`;
    detail = JSON.stringify(data.output).slice(0, 2000);
  } else detail = JSON.stringify(data).slice(0, 2000);
  return element("li", { class: `event event-${type} live`, "data-id": id },
    element("time", { datetime: time }, time), " ", element("span", { class: "summary" }, summary),
    detail ? element("code", { class: "detail" }, detail) : null);
}

function timeline() {
  const list = $("#timeline");
  if (!list) return;
  const status = $("#stream-status");
  const state = $("#state");
  const url = new URL(list.dataset.stream, location.href);
  // Resume after the last event the page was rendered with; the browser's EventSource sends
  // Last-Event-ID itself on every reconnect after that.
  url.searchParams.set("last_event_id", list.dataset.lastEventId || "0-0");
  const source = new EventSource(url);
  const seen = new Set($$("li[data-id]", list).map((li) => li.dataset.id));
  const add = (type) => (event) => {
    // The server resumes strictly after the last id, so this never happens; counted (and shown
    // once) rather than trusted, so that a test can tell.
    if (seen.has(event.lastEventId)) {
      list.dataset.duplicates = String(Number(list.dataset.duplicates || 0) + 1);
      return;
    }
    seen.add(event.lastEventId);
    const data = JSON.parse(event.data);
    list.append(eventRow(type, event.lastEventId, data));
    if (type === "state" && state) {
      state.textContent = data.state;
      state.className = `state state-${data.state}`;
      // The buttons the new state allows (the server refuses the others anyway: 409).
      const terminal = ["completed", "failed", "cancelled"].includes(data.state);
      const shown = { pause: ["scheduled", "running", "waiting"].includes(data.state), resume: data.state === "paused", cancel: !terminal };
      for (const form of $$("form[data-signal]")) form.hidden = !shown[form.dataset.signal];
    }
  };
  source.addEventListener("open", () => { status.textContent = "live"; });
  source.addEventListener("state", add("state"));
  source.addEventListener("output", add("output"));
  source.addEventListener("escalation", add("escalation"));
  source.addEventListener("done", (event) => {
    status.textContent = `finished (${JSON.parse(event.data).state})`;
    source.close();
  });
  source.addEventListener("error", (event) => {
    if (event.data) {
      status.textContent = JSON.parse(event.data).error;
      source.close();
    } else {
      status.textContent = "reconnecting…";
    }
  });
}

confirmations();
inbox();
timeline();
tickCountdowns();
setInterval(tickCountdowns, 1000);
