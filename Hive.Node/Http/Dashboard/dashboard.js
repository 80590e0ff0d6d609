// Hive dashboard: vanilla ES module, no dependencies. Every value that comes from a task (ids, output lines, reasons,
// results) reaches the page through textContent or attributes set from script, never through innerHTML.

const meta = name => document.querySelector(`meta[name="${name}"]`)?.content ?? "";
const NODE = meta("hive-node");
const READS_OPEN = meta("hive-reads-open") === "true";
const TOKEN_KEY = "hive.api-token";
const API = "/api/v1";

const FINAL = new Set(["succeeded", "failed", "stopped", "timed-out", "rejected", "dead"]);
const STATES = ["queued", "accepted", "running", "paused", "succeeded", "failed", "stopped", "timed-out", "rejected", "dead"];
const TABS = {
  running: ["accepted", "running", "paused"],
  queued: ["queued"],
  succeeded: ["succeeded"],
  failed: ["failed", "timed-out", "rejected", "dead"],
  stopped: ["stopped"],
  all: null,
};
const PAGE = 200;
const EVENTS_KEPT = 150;

const $ = id => document.getElementById(id);

/** Builds an element: attributes are set one by one, children are nodes or text (never parsed as HTML). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  tab: "running",
  search: "",
  tasks: [],
  more: 0,
  selected: null,
  detail: null,
  knownScripts: new Set(["sample", "ticker"]),
  pendingLogin: null,
};

// ---------------------------------------------------------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: "no-store" });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, `the node did not answer (${e.message})`);
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!response.ok) throw new ApiError(response.status, json?.error ?? `${response.status} ${response.statusText}`);
  return json;
}

function onReadError(e) {
  if (e.name === "AbortError") return;
  if (e.status === 401) {
    showBanner("This node needs its API token for reads too: log in.");
    openLogin(state.token ? "The token was refused." : "");
  } else {
    showBanner(`Cannot reach the node: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------------- SSE over fetch (auth)

/**
 * Follows an SSE endpoint with fetch, so the request can carry the bearer token (EventSource cannot send headers).
 * Reconnects with backoff and resumes after the last event id it saw.
 */
class EventFeed {
  constructor(path, { onEvent, onStatus = () => {}, from = null }) {
    this.path = path;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.lastId = from;
    this.controller = null;
    this.wake = null;
    this.closed = false;
  }

  start() {
    this.run();
    return this;
  }

  close() {
    this.closed = true;
    this.controller?.abort();
  }

  /** Reconnects at once (with the current token), also out of a backoff wait. */
  restart() {
    this.controller?.abort();
    this.wake?.();
  }

  pause(ms) {
    return new Promise(resolve => {
      this.wake = resolve;
      setTimeout(resolve, ms);
    });
  }

  async run() {
    let backoff = 500;
    while (!this.closed) {
      this.controller = new AbortController();
      try {
        const url = new URL(API + this.path, location.origin);
        if (this.lastId) url.searchParams.set("from", this.lastId);
        const headers = { Accept: "text/event-stream" };
        if (state.token) headers.Authorization = `Bearer ${state.token}`;
        const response = await fetch(url, { headers, signal: this.controller.signal, cache: "no-store" });
        if (response.status === 401) {
          this.onStatus("denied");
          await this.pause(5000);
          continue;
        }
        if (!response.ok || !response.body) throw new Error(`${response.status}`);
        this.onStatus("live");
        backoff = 500;
        await this.read(response.body);
      } catch (e) {
        if (this.closed) return;
      }
      if (this.closed) return;
      this.onStatus("reconnecting");
      await this.pause(backoff);
      backoff = Math.min(backoff * 2, 10000);
    }
  }

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        this.dispatch(block);
      }
    }
  }

  dispatch(block) {
    let id = null, data = "";
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "data") data += (data ? "\n" : "") + value;
    }
    if (id) this.lastId = id;
    if (!data) return;
    try {
      this.onEvent(JSON.parse(data));
    } catch (e) {
      console.warn("hive: unreadable event", e);
    }
  }
}


// ------------------------------------------------------------------------------------------------------- formatting

function age(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return seconds < 1 ? "now" : `${span(Math.floor(seconds))} ago`;
}

function span(seconds) {
  if (seconds < 10) return `${Math.round(seconds * 10) / 10}s`;
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${Math.floor(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d ${Math.floor((seconds % 86400) / 3600)}h`;
}

function duration(task) {
  if (!task.startedAt) return "";
  const end = FINAL.has(task.state) ? Date.parse(task.updatedAt) : Date.now();
  return span(Math.max(0, (end - Date.parse(task.startedAt)) / 1000));
}

const when = iso => (iso ? new Date(iso).toLocaleString() : "—");
const time = iso => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "");
const lastLine = task => (task.lines?.length ? task.lines[task.lines.length - 1] : "");
const isActive = task => !FINAL.has(task.state);

function progressValue(task) {
  if (typeof task.progress === "number" && Number.isFinite(task.progress)) return Math.max(0, Math.min(100, task.progress));
  return task.state === "succeeded" ? 100 : null;
}

/** A progress bar: role=progressbar with aria-valuenow, so assistive tech (and the tests) read its value. */
function progressBar(big = false) {
  return h("div", { class: big ? "progress big" : "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 },
    h("div", { class: "track" }, h("div", { class: "fill" })), h("span", { class: "label" }));
}

function setProgress(bar, task) {
  const value = progressValue(task);
  bar.dataset.state = task.state;
  const fill = bar.querySelector(".fill"), label = bar.querySelector(".label");
  const indeterminate = value === null && (task.state === "running" || task.state === "accepted");
  bar.classList.toggle("indeterminate", indeterminate);
  if (value === null) {
    bar.removeAttribute("aria-valuenow");
    fill.style.width = "0%";
    label.textContent = indeterminate ? "" : "—";
  } else {
    bar.setAttribute("aria-valuenow", String(Math.round(value * 10) / 10));
    fill.style.width = `${value}%`;
    label.textContent = `${Math.floor(value)}%`;
  }
}

function badge(stateName) {
  return h("span", { class: "state", "data-state": stateName, text: stateName });
}

// ----------------------------------------------------------------------------------------------------------- banner

let bannerTimer = null;

function showBanner(message, timeout = 0) {
  const banner = $("banner");
  banner.textContent = message;
  banner.hidden = false;
  clearTimeout(bannerTimer);
  if (timeout) bannerTimer = setTimeout(() => { banner.hidden = true; }, timeout);
}

function hideBanner() {
  $("banner").hidden = true;
}

// ------------------------------------------------------------------------------------------------------------ login

function openLogin(error = "") {
  $("login-error").textContent = error;
  $("login-reads").textContent = READS_OPEN ? " (reads are open: this node listens on loopback only)" : ", and so do reads";
  $("login-skip").hidden = !READS_OPEN;
  const dialog = $("login");
  if (!dialog.open) dialog.showModal();
  $("login-token").focus();
}

async function login(event) {
  event.preventDefault();
  const token = $("login-token").value.trim();
  if (!token) {
    $("login-error").textContent = "Paste the token.";
    return;
  }
  const previous = state.token;
  state.token = token;
  try {
    await api("/auth/check", { method: "POST" });
  } catch (e) {
    state.token = previous;
    $("login-error").textContent = e.status === 401 ? "This is not the node's API token." : `The node did not answer: ${e.message}`;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("login-token").value = "";
  $("login").close();
  hideBanner();
  renderAuth();
  feed.restart();
  refreshAll();
  const pending = state.pendingLogin;
  state.pendingLogin = null;
  pending?.();
}

function logout() {
  state.token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  renderAuth();
  openLogin();
}

function renderAuth() {
  $("auth-status").textContent = state.token ? "token set" : (READS_OPEN ? "read only" : "not logged in");
  $("login-open").hidden = Boolean(state.token);
  $("logout").hidden = !state.token;
}

/** Runs a write, asking for the token first when there is none (and again when the node refuses it). */
async function write(run) {
  if (!state.token) {
    state.pendingLogin = () => write(run);
    openLogin("Log in to submit or control tasks.");
    return undefined;
  }
  try {
    return await run();
  } catch (e) {
    if (e.status === 401) {
      state.pendingLogin = () => write(run);
      openLogin("The node refused the token; paste the current one.");
      return undefined;
    }
    throw e;
  }
}

// ------------------------------------------------------------------------------------------------------------ nodes

async function refreshNodes() {
  let nodes;
  try {
    nodes = await api("/nodes");
  } catch (e) {
    onReadError(e);
    return;
  }
  const box = $("nodes");
  let guides = 0, busy = 0;
  const cards = nodes.map(node => {
    const info = node.info ?? {};
    guides += node.guides.length;
    busy += node.guides.filter(g => g.state && g.state !== "idle").length;
    const admission = typeof info.admission === "string" ? info.admission : "";
    const gate = info.draining ? h("span", { class: "gate draining", text: "draining" })
      : admission ? h("span", { class: `gate ${admission === "open" ? "open" : "closed"}`, title: admission, text: admission === "open" ? "open" : "gate closed" })
        : null;
    return h("div", { class: "node", "data-node": node.node },
      h("div", { class: "node-head" },
        h("span", { class: "node-name", text: node.node }),
        node.node === NODE ? h("span", { class: "muted small", text: "(this node)" }) : null,
        h("span", { class: "spacer" }),
        gate),
      h("div", { class: "node-meta" },
        h("span", {}, "guides ", h("b", { text: `${node.guides.filter(g => g.state && g.state !== "idle").length}/${node.guides.length}` }), " busy"),
        typeof info.cpuPercent === "number" ? h("span", {}, "cpu ", h("b", { text: `${info.cpuPercent}%` })) : null,
        typeof info.memoryPercent === "number" ? h("span", {}, "mem ", h("b", { text: `${info.memoryPercent}%` })) : null,
        info.heartbeat ? h("span", { title: when(info.heartbeat) }, "heartbeat ", age(info.heartbeat)) : null),
      h("div", { class: "guides" }, node.guides.map(guide =>
        h("div", { class: "guide", "data-state": guide.state ?? "idle", "data-guide": guide.guide, title: guide.pid ? `pid ${guide.pid}` : null },
          h("i", { class: "dot" }),
          h("span", { class: "gid", text: guide.guide }),
          h("span", { text: guide.state ?? "idle" }),
          guide.taskId ? h("a", { href: `#/tasks/${encodeURIComponent(guide.taskId)}`, text: guide.taskId, title: guide.taskId }) : null))));
  });
  box.replaceChildren(...(cards.length ? cards : [h("p", { class: "empty", text: "No node reported in the last heartbeats." })]));
  $("nodes-summary").textContent = nodes.length ? `${nodes.length} node${nodes.length === 1 ? "" : "s"} · ${busy}/${guides} guides busy` : "";
}

// ------------------------------------------------------------------------------------------------------------ tasks

async function fetchStates(states, limit) {
  if (states === null) {
    const page = await api(`/tasks?limit=${limit}`);
    return { items: page.items, total: page.total };
  }
  const pages = await Promise.all(states.map(s => api(`/tasks?state=${encodeURIComponent(s)}&limit=${limit}`)));
  return { items: pages.flatMap(p => p.items), total: pages.reduce((sum, p) => sum + p.total, 0) };
}

let tasksInFlight = false;

async function refreshTasks() {
  if (tasksInFlight) return;
  tasksInFlight = true;
  const tab = state.tab;
  try {
    const { items, total } = await fetchStates(TABS[tab], PAGE);
    if (tab !== state.tab) return;
    // Newest submitted first: a stable order, where running tasks (updated all the time) do not jump around.
    const key = t => Date.parse(t.queuedAt ?? t.startedAt ?? t.updatedAt);
    items.sort((a, b) => key(b) - key(a) || (a.taskId < b.taskId ? -1 : 1));
    state.tasks = items;
    state.more = Math.max(0, total - items.length);
    for (const t of items) if (t.script) state.knownScripts.add(t.script);
    const count = document.querySelector(`[data-count="${tab}"]`);
    if (count) count.textContent = String(total);
    hideBannerIfReachable();
    renderTasks();
  } catch (e) {
    onReadError(e);
  } finally {
    tasksInFlight = false;
  }
}

function hideBannerIfReachable() {
  if (!$("banner").hidden && $("banner").textContent.startsWith("Cannot reach")) hideBanner();
}

async function refreshCounts() {
  try {
    const totals = Object.fromEntries(await Promise.all(STATES.map(async s => [s, (await api(`/tasks?state=${s}&limit=1`)).total])));
    for (const [tab, states] of Object.entries(TABS)) {
      const n = (states ?? STATES).reduce((sum, s) => sum + (totals[s] ?? 0), 0);
      const count = document.querySelector(`[data-count="${tab}"]`);
      if (count) count.textContent = String(n);
    }
  } catch (e) {
    onReadError(e);
  }
}

const rows = new Map(); // taskId → { tr, cells }

function taskRow(id) {
  let row = rows.get(id);
  if (row) return row;
  const bar = progressBar();
  const cells = {
    state: h("td", { class: "c-state" }),
    id: h("td", { class: "task-id" }),
    script: h("td"),
    progress: h("td", { class: "c-progress" }, bar),
    line: h("td"),
    where: h("td"),
    attempt: h("td", { class: "c-num" }),
    updated: h("td", { class: "c-time" }),
    duration: h("td", { class: "c-time" }),
    actions: h("td", { class: "c-actions" }),
  };
  const tr = h("tr", { "data-task-id": id, onclick: event => { if (!event.target.closest("button, a")) select(id); } }, Object.values(cells));
  row = { tr, cells, bar, key: "" };
  rows.set(id, row);
  return row;
}

function actionButtons(task, small) {
  const cls = small ? "btn btn-xs" : "btn";
  if (!isActive(task)) return [];
  const buttons = [];
  if (task.state === "paused") buttons.push(h("button", { type: "button", class: cls, "data-action": "resume", onclick: () => control(task.taskId, "resume"), text: "Resume" }));
  else if (task.state === "running") buttons.push(h("button", { type: "button", class: cls, "data-action": "pause", onclick: () => control(task.taskId, "pause"), text: "Pause" }));
  buttons.push(h("button", { type: "button", class: `${cls} btn-danger`, "data-action": "stop", onclick: () => control(task.taskId, "stop"), text: "Stop" }));
  return buttons;
}

function matches(task, query) {
  if (!query) return true;
  return [task.taskId, task.script, task.node, task.stage, task.reason, lastLine(task)]
    .some(v => typeof v === "string" && v.toLowerCase().includes(query));
}

function renderTasks() {
  const body = $("task-rows");
  const query = state.search.trim().toLowerCase();
  const shown = state.tasks.filter(t => matches(t, query));
  const keep = new Set();
  for (const task of shown) {
    const row = taskRow(task.taskId);
    keep.add(task.taskId);
    const c = row.cells;
    if (c.state.firstChild?.dataset.state !== task.state) c.state.replaceChildren(badge(task.state));
    c.id.textContent = task.taskId;
    c.id.title = task.taskId;
    c.script.textContent = task.script ?? "(command)";
    setProgress(row.bar, task);
    const line = lastLine(task);
    c.line.replaceChildren(
      task.stage ? h("span", { class: "stage", text: task.stage }) : "",
      task.stage && line ? " " : "",
      h("span", { class: "line", text: FINAL.has(task.state) && task.reason ? task.reason : line }));
    c.line.title = FINAL.has(task.state) && task.reason ? task.reason : line;
    c.where.textContent = task.node ?? "—";
    c.where.title = task.node ? `${task.node}${task.guide ? " / " + task.guide : ""}` : "";
    c.attempt.textContent = task.attempt ? String(task.attempt) : "";
    c.updated.textContent = age(task.updatedAt);
    c.updated.title = when(task.updatedAt);
    c.duration.textContent = duration(task);
    const actionsKey = `${task.state}`;
    if (row.key !== actionsKey) {
      c.actions.replaceChildren(...actionButtons(task, true));
      row.key = actionsKey;
    }
    row.tr.classList.toggle("selected", state.selected === task.taskId);
    body.append(row.tr); // moves it into order
  }
  for (const [id, row] of rows) {
    if (!keep.has(id)) {
      row.tr.remove();
      rows.delete(id);
    }
  }
  $("tasks-empty").hidden = shown.length > 0;
  $("tasks-more").hidden = state.more === 0;
  $("tasks-more").textContent = state.more ? `${state.more} older not shown` : "";
  const list = $("scripts");
  if (list.childElementCount !== state.knownScripts.size)
    list.replaceChildren(...[...state.knownScripts].sort().map(s => h("option", { value: s })));
}

function setTab(tab) {
  if (!(tab in TABS)) return;
  state.tab = tab;
  for (const button of document.querySelectorAll("#tabs [data-tab]"))
    button.setAttribute("aria-selected", String(button.dataset.tab === tab));
  state.tasks = [];
  renderTasks();
  refreshTasks();
}

// ---------------------------------------------------------------------------------------------------------- control

async function control(id, action) {
  try {
    const done = await write(() => api(`/tasks/${encodeURIComponent(id)}/${action}`, { method: "POST" }));
    if (done) showBanner(`${action} sent to ${id}`, 2500);
    setTimeout(refreshAll, 300);
  } catch (e) {
    showBanner(`${action} ${id}: ${e.message}`, 8000);
  }
}

async function submit(event) {
  event.preventDefault();
  const form = event.target;
  const result = $("submit-result");
  result.className = "form-result";
  result.textContent = "";
  const data = new FormData(form);
  const task = { script: data.get("script").trim() };
  const argsText = data.get("args").trim();
  if (argsText) {
    try {
      task.args = JSON.parse(argsText);
    } catch (e) {
      result.className = "form-result err";
      result.textContent = `Args are not valid JSON: ${e.message}`;
      return;
    }
  }
  const id = data.get("taskId").trim();
  if (id) task.taskId = id;
  for (const name of ["timeoutSeconds", "maxAttempts"]) {
    const value = data.get(name);
    if (value !== "") task[name] = Number(value);
  }
  try {
    const accepted = await write(() => api("/tasks", { method: "POST", body: task }));
    if (!accepted) return;
    result.className = "form-result ok";
    result.textContent = `Queued ${accepted.taskId}`;
    form.elements.taskId.value = "";
    state.knownScripts.add(task.script);
    select(accepted.taskId);
    setTimeout(refreshAll, 250);
  } catch (e) {
    result.className = "form-result err";
    result.textContent = e.message;
  }
}

// ----------------------------------------------------------------------------------------------------------- detail

function select(id) {
  const hash = `#/tasks/${encodeURIComponent(id)}`;
  if (location.hash !== hash) location.hash = hash;
  else openDetail(id);
}

function fromHash() {
  const match = /^#\/tasks\/(.+)$/.exec(location.hash);
  if (match) openDetail(decodeURIComponent(match[1]));
  else closeDetail(false);
}

function openDetail(id) {
  if (state.selected === id && state.detail) return;
  closeDetail(false);
  state.selected = id;
  $("detail").hidden = false;
  $("detail-id").textContent = id;
  $("detail-state").replaceChildren();
  $("detail-fields").replaceChildren();
  $("detail-lines").textContent = "";
  $("detail-result").textContent = "";
  $("detail-history").replaceChildren();
  $("detail-lines-count").textContent = "";
  const bar = $("detail-progress");
  setProgress(bar, { state: "queued", progress: null });
  state.detail = {
    id,
    task: null,
    feed: new EventFeed(`/events?taskId=${encodeURIComponent(id)}`, { from: "0", onEvent: e => addHistory(e) }).start(),
  };
  for (const row of rows.values()) row.tr.classList.toggle("selected", row.tr.dataset.taskId === id);
  refreshDetail();
}

function closeDetail(updateHash = true) {
  state.detail?.feed.close();
  state.detail = null;
  state.selected = null;
  $("detail").hidden = true;
  for (const row of rows.values()) row.tr.classList.remove("selected");
  if (updateHash && location.hash) history.replaceState(null, "", location.pathname + location.search);
}

async function refreshDetail() {
  const detail = state.detail;
  if (!detail) return;
  let task;
  try {
    task = await api(`/tasks/${encodeURIComponent(detail.id)}`);
  } catch (e) {
    if (state.detail !== detail) return;
    if (e.status === 404) {
      $("detail-state").replaceChildren(h("span", { class: "muted", text: "not known yet (queued on the broker, or expired)" }));
      return;
    }
    onReadError(e);
    return;
  }
  if (state.detail !== detail) return;
  detail.task = task;
  renderDetail(task);
}

function renderDetail(task) {
  $("detail-state").replaceChildren(badge(task.state));
  setProgress($("detail-progress"), task);
  for (const button of document.querySelectorAll("#detail .detail-actions [data-action]")) {
    const action = button.dataset.action;
    button.disabled = action === "pause" ? task.state !== "running" : action === "resume" ? task.state !== "paused" : !isActive(task);
  }
  const field = (label, value, mono = false) =>
    value === null || value === undefined || value === "" ? [] : [h("dt", { text: label }), h("dd", { class: mono ? "mono" : null, text: String(value) })];
  $("detail-fields").replaceChildren(...[
    field("script", task.script ?? "(command)", true),
    field("stage", task.stage),
    field("node", task.node, true),
    field("guide", task.guide, true),
    field("attempt", task.attempt),
    field("pid", task.pid, true),
    field("queued", task.queuedAt && when(task.queuedAt)),
    field("started", task.startedAt && when(task.startedAt)),
    field("updated", `${when(task.updatedAt)} (${age(task.updatedAt)})`),
    field("duration", duration(task)),
    field("exit code", task.exitCode),
    field("reason", task.reason),
  ].flat());
  const pre = $("detail-lines");
  const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8;
  const text = (task.lines ?? []).join("\n");
  if (pre.textContent !== text) {
    pre.textContent = text;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }
  $("detail-lines-count").textContent = task.totalLines ? `last ${task.lines?.length ?? 0} of ${task.totalLines}` : "";
  const result = task.result === null || task.result === undefined ? "" : JSON.stringify(task.result, null, 2);
  if ($("detail-result").textContent !== result) $("detail-result").textContent = result;
}

function eventText(e) {
  const parts = [];
  if (e.state) parts.push(e.state);
  if (e.node) parts.push(`on ${e.node}`);
  if (e.attempt) parts.push(`attempt ${e.attempt}`);
  if (e.reason) parts.push(`— ${e.reason}`);
  return parts.join(" ");
}

function eventTime(e) {
  const ms = Number(String(e.id).split("-")[0]);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : null;
}

function addHistory(e) {
  const detail = state.detail;
  if (!detail || e.taskId !== detail.id) return;
  const at = eventTime(e);
  $("detail-history").append(h("li", { "data-event": e.event },
    h("span", { class: "ev-time", title: when(at), text: time(at) }),
    h("span", { class: "ev-name", "data-event": e.event, text: e.event }),
    h("span", { class: "ev-text", text: eventText(e) })));
  scheduleRefresh();
}

// ------------------------------------------------------------------------------------------------------- event feed

function addEvent(e) {
  const list = $("events");
  const at = eventTime(e);
  list.prepend(h("li", { class: "fresh", "data-event": e.event },
    h("span", { class: "ev-time", title: when(at), text: time(at) }),
    h("span", { class: "ev-name", "data-event": e.event, text: e.event }),
    h("span", { class: "ev-text" },
      h("a", { href: `#/tasks/${encodeURIComponent(e.taskId)}`, text: e.taskId, title: e.taskId }),
      " ", eventText(e))));
  while (list.childElementCount > EVENTS_KEPT) list.lastElementChild.remove();
  scheduleRefresh();
}

let refreshTimer = null;

/** Events say a task changed: refresh soon, once for a burst. */
function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refreshTasks();
    refreshDetail();
  }, 150);
}

function setFeedStatus(status) {
  const el = $("feed-status");
  el.dataset.state = status;
  el.lastElementChild.textContent = { live: "live", reconnecting: "reconnecting…", denied: "events need the token", connecting: "connecting" }[status] ?? status;
}

const feed = new EventFeed("/events", { onEvent: addEvent, onStatus: setFeedStatus });

// ---------------------------------------------------------------------------------------------------------- refresh

function refreshAll() {
  refreshTasks();
  refreshDetail();
  refreshNodes();
  refreshCounts();
}

function every(ms, run) {
  setInterval(() => { if (!document.hidden) run(); }, ms);
}

function wire() {
  $("login-form").addEventListener("submit", login);
  $("login-skip").addEventListener("click", () => $("login").close());
  $("login-open").addEventListener("click", () => openLogin());
  $("logout").addEventListener("click", logout);
  $("tabs").addEventListener("click", event => {
    const button = event.target.closest("[data-tab]");
    if (button) setTab(button.dataset.tab);
  });
  $("search").addEventListener("input", event => {
    state.search = event.target.value;
    renderTasks();
  });
  $("new-task-open").addEventListener("click", () => {
    const form = $("submit-form");
    form.hidden = !form.hidden;
    if (!form.hidden) form.elements.script.focus();
  });
  $("new-task-cancel").addEventListener("click", () => { $("submit-form").hidden = true; });
  $("submit-form").addEventListener("submit", submit);
  $("detail-close").addEventListener("click", () => closeDetail());
  for (const button of document.querySelectorAll("#detail .detail-actions [data-action]"))
    button.addEventListener("click", () => state.selected && control(state.selected, button.dataset.action));
  window.addEventListener("hashchange", fromHash);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshAll(); });
}

wire();
renderAuth();
if (!state.token) openLogin();
fromHash();
feed.start();
refreshAll();
every(1000, () => {
  refreshTasks();
  if (state.detail && !(state.detail.task && FINAL.has(state.detail.task.state))) refreshDetail(); // an ended task no longer changes
});
every(2500, refreshNodes);
every(4000, refreshCounts);
every(1000, () => {
  // Ages and durations move even when nothing is fetched.
  for (const task of state.tasks) {
    const row = rows.get(task.taskId);
    if (!row) continue;
    row.cells.updated.textContent = age(task.updatedAt);
    row.cells.duration.textContent = duration(task);
  }
});
