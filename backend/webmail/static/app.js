// Postern WebMail: the single-page interface over the node's JSON API
// (backend/webmail/API.md). Plain JavaScript, no build step, served under a
// strict Content-Security-Policy: no inline script or style, no eval.
//
// Everything that comes from a message is untrusted: it reaches the page only
// through textContent and attribute values, never as markup. HTML bodies are
// shown by the node's sanitised body.html in an iframe sandboxed without
// allow-scripts (links open in a new window: allow-popups).

const $ = (id) => document.getElementById(id);

const PAGE_SIZE = 50;
// The width below which app.css shows one pane at a time.
const narrow = window.matchMedia("(max-width: 760px)");
const FOLDER_LABELS = {
  inbox: "Inbox", sent: "Sent", drafts: "Drafts", trash: "Trash", junk: "Junk", archive: "Archive",
};

const state = {
  user: null,
  csrf: null,
  folders: [],
  folder: "INBOX",
  page: 0,
  sort: "date",
  order: "desc",
  search: null,        // {field, text} or null
  total: 0,
  messages: [],
  current: null,       // the open message (API object)
  showImages: false,
  compose: null,       // extra fields of the draft being written
  listToken: 0,        // the newest list request; older answers are dropped
  readToken: 0,
};

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// One request to the node. JSON bodies go as application/json, forms as
// multipart/form-data (the browser sets the boundary); every request that
// changes something carries the session's CSRF token.
async function api(method, path, { json, form, login = false } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  if (method !== "GET" && method !== "HEAD" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  let res;
  try {
    res = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection.");
  }
  const type = res.headers.get("Content-Type") || "";
  const isJson = type.includes("application/json");
  let data = null;
  if (isJson) {
    try { data = await res.json(); } catch { data = null; }
  }
  // A lost session: the node's 401, or the proxy sending us to the login
  // page (a redirect that ends on the HTML page instead of JSON).
  const lost = res.status === 401 || (res.ok && res.status !== 204 && !isJson && res.redirected);
  if (lost) {
    if (!login) sessionLost();
    throw new ApiError(401, "auth", "Your session has ended. Please sign in again.");
  }
  if (!res.ok) {
    const message = (data && typeof data.message === "string" && data.message)
      || defaultMessage(res.status);
    throw new ApiError(res.status, (data && data.error) || "http", message);
  }
  return data;
}

function defaultMessage(status) {
  switch (status) {
    case 401: return "Wrong address or password.";
    case 403: return "That was refused. Reload the page and try again.";
    case 404: return "It is no longer there.";
    case 413: return "That is too large to send.";
    case 421: return "This account is served elsewhere; sign in through the usual address.";
    case 503: return "The mail service is busy or down for a moment. Try again shortly.";
    default: return `The server answered ${status}.`;
  }
}

const enc = encodeURIComponent;
const folderPath = (folder) => `/api/folders/${enc(folder)}`;
const messagePath = (folder, uid) => `${folderPath(folder)}/messages/${enc(String(uid))}`;

// ---------------------------------------------------------------- helpers

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "data") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

let statusTimer = 0;
function setStatus(text, kind = "info") {
  const box = $("status");
  box.textContent = text;
  box.dataset.kind = kind;
  box.classList.toggle("visible", Boolean(text));
  clearTimeout(statusTimer);
  if (text && kind !== "busy") statusTimer = setTimeout(() => setStatus(""), kind === "error" ? 8000 : 4000);
}

function showError(err) {
  if (err instanceof ApiError && err.code === "auth" && !state.user) return;  // login page shows it
  setStatus(err && err.message ? err.message : String(err), "error");
  if (!(err instanceof ApiError)) console.error(err);
}

function addressText(a) {
  if (!a) return "";
  return a.name ? `${a.name} <${a.address}>` : a.address;
}
function addressShort(a) {
  if (!a) return "";
  return a.name || a.address || "";
}
function addressList(list) {
  return (list || []).map(addressText).join(", ");
}

function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function formatDate(iso, long = false) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso || "";
  if (long) return d.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" });
  const now = new Date();
  if (d.toDateString() === now.toDateString()) {
    return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  }
  if (d.getFullYear() === now.getFullYear()) {
    return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  }
  return d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

function folderLabel(folder) {
  return folder.special === "inbox" ? FOLDER_LABELS.inbox : folder.name;
}

function specialFolder(kind) {
  const f = state.folders.find((x) => x.special === kind);
  return f ? f.name : null;
}

// ---------------------------------------------------------------- views

// The narrow layout shows one pane at a time: "list" or "message".
function setPane(pane) {
  document.body.dataset.pane = pane;
  if (pane !== "folders") closeFolders();
}

function openFolders(open) {
  document.body.classList.toggle("folders-open", open);
  $("folders-toggle").setAttribute("aria-expanded", String(open));
}
function closeFolders() { openFolders(false); }

function showLogin(message = "") {
  state.user = null;
  state.csrf = null;
  state.current = null;
  state.messages = [];
  state.folders = [];
  $("folder-list").replaceChildren();
  $("message-list").replaceChildren();
  clearReader();
  closeCompose();
  $("app-view").hidden = true;
  $("login-view").hidden = false;
  document.body.classList.remove("booting");
  document.title = "Sign in · Postern WebMail";
  $("login-error").textContent = message;
  $("login-password").value = "";
  $("login-submit").disabled = false;
  ($("login-user").value ? $("login-password") : $("login-user")).focus();
}

function sessionLost() {
  if (state.user) showLogin("Your session has ended. Please sign in again.");
}

async function enterApp(session) {
  state.user = session.user;
  state.csrf = session.csrf;
  state.folder = "INBOX";
  state.page = 0;
  state.search = null;
  $("search-text").value = "";
  $("search-clear").hidden = true;
  $("current-user").textContent = session.user;
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  document.body.classList.remove("booting");
  document.title = "Postern WebMail";
  setPane("list");
  await loadFolders();
  await loadMessages();
  const first = $("message-list").querySelector("button");
  if (first) first.focus();
}

// ---------------------------------------------------------------- login

async function onLogin(event) {
  event.preventDefault();
  const user = $("login-user").value.trim();
  const password = $("login-password").value;
  if (!user || !password) {
    $("login-error").textContent = "Enter your address and password.";
    return;
  }
  $("login-error").textContent = "";
  $("login-submit").disabled = true;
  setStatus("Signing in…", "busy");
  try {
    const session = await api("POST", "/api/login", { json: { user, password }, login: true });
    setStatus("");
    await enterApp(session);
  } catch (err) {
    setStatus("");
    $("login-error").textContent = err.status === 401 ? "Wrong address or password." : err.message;
    $("login-submit").disabled = false;
    $("login-password").select();
    $("login-password").focus();
  }
}

async function onLogout() {
  try {
    await api("POST", "/api/logout");
  } catch (err) {
    if (err.code !== "auth") showError(err);
  }
  showLogin("You have signed out.");
}

// ---------------------------------------------------------------- folders

async function loadFolders() {
  const data = await api("GET", "/api/folders");
  state.folders = data.folders || [];
  renderFolders();
}

function renderFolders() {
  const items = state.folders.map((f) => {
    const label = folderLabel(f);
    const count = f.unseen > 0 ? el("span", { class: "count", text: String(f.unseen) }) : null;
    const button = el("button", {
      type: "button",
      class: "folder" + (f.unseen > 0 ? " has-unseen" : ""),
      data: { folder: f.name, special: f.special || "" },
      "aria-current": f.name === state.folder ? "true" : null,
      title: `${f.total} messages, ${f.unseen} unread`,
      onclick: () => selectFolder(f.name),
    }, el("span", { class: "name", text: label }), count,
    f.unseen > 0 ? el("span", { class: "visually-hidden", text: " unread" }) : null);
    return el("li", {}, button);
  });
  $("folder-list").replaceChildren(...items);

  const options = state.folders.filter((f) => f.name !== state.folder)
    .map((f) => el("option", { value: f.name, text: folderLabel(f) }));
  $("move-target").replaceChildren(...options);
  const hasTargets = options.length > 0;
  $("move-button").disabled = !hasTargets;
  $("copy-button").disabled = !hasTargets;
}

async function selectFolder(name) {
  state.folder = name;
  state.page = 0;
  clearReader();
  renderFolders();
  setPane("list");
  try {
    await loadMessages();
    $("message-list").focus();
  } catch (err) { showError(err); }
}

// ---------------------------------------------------------------- message list

async function loadMessages() {
  const token = ++state.listToken;
  const params = new URLSearchParams({
    page: String(state.page), size: String(PAGE_SIZE), sort: state.sort, order: state.order,
  });
  if (state.search) params.set(state.search.field, state.search.text);
  const data = await api("GET", `${folderPath(state.folder)}/messages?${params}`);
  if (token !== state.listToken) return;
  state.total = data.total || 0;
  state.messages = data.messages || [];
  renderMessages();
}

function renderMessages() {
  const f = state.folders.find((x) => x.name === state.folder);
  $("list-title").textContent = state.search
    ? `Search in ${f ? folderLabel(f) : state.folder}` : (f ? folderLabel(f) : state.folder);
  const rows = state.messages.map((m) => {
    const who = state.folder === specialFolder("sent") || state.folder === specialFolder("drafts")
      ? (m.to && m.to.length ? "To: " + m.to.map(addressShort).join(", ") : "(no recipient)")
      : addressShort(m.from) || "(unknown sender)";
    const flags = [];
    if (!m.seen) flags.push(el("span", { class: "visually-hidden", text: "Unread. " }));
    const button = el("button", {
      type: "button",
      class: "msg" + (m.seen ? "" : " unseen") + (m.flagged ? " flagged" : ""),
      data: { uid: String(m.uid) },
      "aria-current": state.current && state.current.uid === m.uid ? "true" : null,
      onclick: () => openMessage(m.uid),
    },
    ...flags,
    el("span", { class: "from", text: who }),
    el("span", { class: "date", text: formatDate(m.date) }),
    el("span", { class: "subject", text: m.subject || "(no subject)" }),
    el("span", { class: "marks" },
      m.flagged ? el("span", { class: "mark flag", title: "Flagged", text: "★" }) : null,
      m.flagged ? el("span", { class: "visually-hidden", text: "Flagged." }) : null,
      m.has_attachments ? el("span", { class: "mark clip", title: "Has attachments" }) : null,
      m.has_attachments ? el("span", { class: "visually-hidden", text: "Has attachments." }) : null,
      m.answered ? el("span", { class: "mark", title: "Answered", text: "↩" }) : null,
      el("span", { class: "size", text: formatSize(m.size || 0) })));
    return el("li", {}, button);
  });
  $("message-list").replaceChildren(...rows);
  $("list-empty").hidden = rows.length > 0;
  $("list-empty").textContent = state.search ? "No messages match." : "No messages.";

  const first = state.total === 0 ? 0 : state.page * PAGE_SIZE + 1;
  const last = Math.min(state.total, (state.page + 1) * PAGE_SIZE);
  $("page-info").textContent = state.total === 0 ? "" : `${first}–${last} of ${state.total}`;
  $("page-prev").disabled = state.page === 0;
  $("page-next").disabled = last >= state.total;
}

function markCurrentRow() {
  for (const b of $("message-list").querySelectorAll("button.msg")) {
    if (state.current && b.dataset.uid === String(state.current.uid)) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
  }
}

async function refreshList() {
  try {
    await Promise.all([loadFolders(), loadMessages()]);
  } catch (err) { showError(err); }
}

// ---------------------------------------------------------------- reading

function clearReader() {
  state.current = null;
  state.readToken++;
  $("message").hidden = true;
  $("read-empty").hidden = false;
  $("message-body").replaceChildren();
  markCurrentRow();
}

async function openMessage(uid) {
  const token = ++state.readToken;
  const folder = state.folder;
  setStatus("Opening…", "busy");
  let m;
  try {
    m = await api("GET", messagePath(folder, uid));
  } catch (err) {
    showError(err);
    return;
  }
  if (token !== state.readToken) return;
  setStatus("");
  m.folder = m.folder || folder;
  state.current = m;
  state.showImages = false;
  renderMessage();
  // On a phone the message replaces the list: the browser's Back button
  // should bring the list back, not leave the application.
  if (narrow.matches && document.body.dataset.pane !== "message") {
    history.pushState({ pane: "message" }, "");
  }
  setPane("message");
  $("message-subject").focus();
  // Opening marks it seen: the list row and the folder's count follow.
  const row = state.messages.find((x) => x.uid === uid);
  if (row && !row.seen) {
    row.seen = true;
    renderMessages();
    loadFolders().catch(showError);
  }
  markCurrentRow();
}

function renderMessage() {
  const m = state.current;
  $("read-empty").hidden = true;
  $("message").hidden = false;
  $("message-subject").textContent = m.subject || "(no subject)";
  $("message-subject").setAttribute("tabindex", "-1");

  const rows = [["From", addressText(m.from)], ["To", addressList(m.to)]];
  if (m.cc && m.cc.length) rows.push(["Cc", addressList(m.cc)]);
  if (m.reply_to && m.reply_to.length) rows.push(["Reply-To", addressList(m.reply_to)]);
  rows.push(["Date", formatDate(m.date, true)]);
  $("message-headers").replaceChildren(...rows.flatMap(([k, v]) => [
    el("dt", { text: k }), el("dd", { text: v }),
  ]));

  $("seen-button").textContent = m.seen ? "Mark unread" : "Mark read";
  $("flag-button").textContent = m.flagged ? "Unflag" : "Flag";
  $("flag-button").setAttribute("aria-pressed", String(Boolean(m.flagged)));
  $("delete-button").textContent = state.folder === specialFolder("trash") ? "Delete for good" : "Delete";
  $("raw-link").href = `${messagePath(m.folder, m.uid)}/raw`;
  const isDraft = state.folder === specialFolder("drafts");
  $("reply-button").textContent = isDraft ? "Edit draft" : "Reply";
  $("reply-all-button").hidden = isDraft;

  renderBody();

  const attachments = (m.attachments || []).filter((a) => !a.inline || !m.has_html);
  $("attachments").hidden = attachments.length === 0;
  $("attachment-list").replaceChildren(...attachments.map((a) => {
    const name = a.filename || `part-${a.part}`;
    return el("li", {},
      el("a", {
        href: `${messagePath(m.folder, m.uid)}/parts/${enc(a.part)}`,
        download: name,
        class: "attachment",
        data: { part: a.part },
      }, el("span", { class: "name", text: name })),
      el("span", { class: "muted", text: ` ${a.content_type || ""}, ${formatSize(a.size || 0)}` }));
  }));
}

function renderBody() {
  const m = state.current;
  const body = $("message-body");
  const blocked = m.remote_images > 0 && !state.showImages;
  $("images-note").hidden = !blocked;
  if (blocked) {
    $("images-text").textContent = m.remote_images === 1
      ? "1 remote image was blocked to protect your privacy."
      : `${m.remote_images} remote images were blocked to protect your privacy.`;
  }
  if (m.has_html) {
    // Sandboxed without allow-scripts: nothing in the mail can run. Same
    // origin only so that the frame can be sized to its content from here.
    // Popups so that a link (target=_blank rel="noopener noreferrer", set by
    // the sanitiser) opens at all, outside the sandbox so that the linked
    // site works as it would from any other mail client. Never allow-scripts,
    // allow-forms or allow-top-navigation.
    const frame = el("iframe", {
      class: "html-body",
      title: "Message content",
      sandbox: "allow-same-origin allow-popups allow-popups-to-escape-sandbox",
      referrerpolicy: "no-referrer",
      src: `${messagePath(m.folder, m.uid)}/body.html${state.showImages ? "?images=1" : ""}`,
    });
    frame.addEventListener("load", () => fitFrame(frame));
    body.replaceChildren(frame);
  } else {
    body.replaceChildren(el("pre", { class: "text-body", text: m.text || "" }));
  }
}

function fitFrame(frame) {
  try {
    const doc = frame.contentDocument;
    if (!doc || !doc.documentElement) return;
    // Measured from a small frame: a document is never shorter than its
    // frame, so the frame would otherwise only ever grow.
    frame.style.height = "40px";
    const height = doc.documentElement.scrollHeight;
    frame.style.height = `${Math.min(Math.max(height + 16, 80), 20000)}px`;
  } catch {
    // Not readable (another origin): the frame keeps its CSS height.
  }
}

function backToList() {
  if (history.state && history.state.pane === "message") {
    history.back();  // popstate comes back here with the state gone
    return;
  }
  setPane("list");
  const row = state.current && $("message-list").querySelector(`button[data-uid="${CSS.escape(String(state.current.uid))}"]`);
  (row || $("message-list")).focus();
}

// ---------------------------------------------------------------- actions

async function changeFlags(change, done) {
  const m = state.current;
  if (!m) return;
  try {
    await api("POST", "/api/messages/flags", { json: { folder: m.folder, uids: [m.uid], ...change } });
    Object.assign(m, change);
    const row = state.messages.find((x) => x.uid === m.uid);
    if (row) Object.assign(row, change);
    renderMessages();
    markCurrentRow();
    $("seen-button").textContent = m.seen ? "Mark unread" : "Mark read";
    $("flag-button").textContent = m.flagged ? "Unflag" : "Flag";
    $("flag-button").setAttribute("aria-pressed", String(Boolean(m.flagged)));
    setStatus(done);
    if ("seen" in change) loadFolders().catch(showError);
  } catch (err) { showError(err); }
}

async function moveOrCopy(kind) {
  const m = state.current;
  const to = $("move-target").value;
  if (!m || !to) return;
  try {
    await api("POST", `/api/messages/${kind}`, { json: { folder: m.folder, uids: [m.uid], to } });
    if (kind === "move") {
      clearReader();
      setPane("list");
      setStatus(`Moved to ${to}.`);
    } else {
      setStatus(`Copied to ${to}.`);
    }
    await refreshList();
  } catch (err) { showError(err); }
}

async function deleteCurrent() {
  const m = state.current;
  if (!m) return;
  const forGood = state.folder === specialFolder("trash");
  try {
    await api("POST", "/api/messages/delete", { json: { folder: m.folder, uids: [m.uid] } });
    clearReader();
    setPane("list");
    setStatus(forGood ? "Deleted for good." : "Moved to Trash.");
    await refreshList();
    $("message-list").focus();
  } catch (err) { showError(err); }
}

// ---------------------------------------------------------------- compose

function openCompose(prefill = {}, extra = {}) {
  state.compose = { ...extra };
  $("compose-title").textContent = prefill.title || "New message";
  $("compose-to").value = prefill.to || "";
  $("compose-cc").value = prefill.cc || "";
  $("compose-bcc").value = prefill.bcc || "";
  $("compose-subject").value = prefill.subject || "";
  $("compose-body").value = prefill.body || "";
  $("compose-files").value = "";
  $("compose-error").textContent = "";
  const forwarded = prefill.attachments || [];
  $("compose-forwarded").hidden = forwarded.length === 0;
  $("compose-forwarded-list").replaceChildren(...forwarded.map((a, i) => {
    const id = `fwd-${i}`;
    return el("li", {},
      el("input", { type: "checkbox", id, value: a.part, checked: true, class: "fwd-part" }),
      el("label", { for: id, text: ` ${a.filename || `part ${a.part}`} (${formatSize(a.size || 0)})` }));
  }));
  setComposeBusy(false);
  $("compose-view").hidden = false;
  document.body.classList.add("composing");
  const focus = prefill.to ? (prefill.body !== undefined && extra.reply_uid ? $("compose-body") : $("compose-subject")) : $("compose-to");
  focus.focus();
  if (focus === $("compose-body")) focus.setSelectionRange(0, 0);
}

function closeCompose() {
  state.compose = null;
  $("compose-view").hidden = true;
  document.body.classList.remove("composing");
}

function setComposeBusy(busy) {
  for (const id of ["compose-send", "compose-draft", "compose-cancel"]) $(id).disabled = busy;
}

async function startReply(mode) {
  const m = state.current;
  if (!m) return;
  if (mode === "reply" && state.folder === specialFolder("drafts")) {
    openCompose({
      title: "Edit draft",
      to: addressList(m.to), cc: addressList(m.cc), subject: m.subject || "", body: m.text || "",
    }, { draft_uid: m.uid });
    return;
  }
  try {
    const d = await api("GET", `${messagePath(m.folder, m.uid)}/compose?mode=${mode}`);
    const extra = {};
    if (d.in_reply_to) extra.in_reply_to = d.in_reply_to;
    if (d.references) extra.references = d.references;
    if (mode === "forward") {
      extra.forward_folder = m.folder;
      extra.forward_uid = m.uid;
    } else {
      extra.reply_folder = m.folder;
      extra.reply_uid = m.uid;
    }
    const titles = { reply: "Reply", reply_all: "Reply to all", forward: "Forward" };
    openCompose({ ...d, title: titles[mode] }, extra);
  } catch (err) { showError(err); }
}

function composeForm() {
  const form = new FormData();
  for (const name of ["to", "cc", "bcc", "subject", "body"]) form.append(name, $(`compose-${name}`).value);
  const extra = state.compose || {};
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined && value !== null && key !== "forward_folder" && key !== "forward_uid") {
      form.append(key, String(value));
    }
  }
  if (extra.forward_uid !== undefined) {
    const parts = [...document.querySelectorAll("#compose-forwarded-list input.fwd-part:checked")]
      .map((c) => c.value);
    if (parts.length) {
      form.append("forward_folder", extra.forward_folder);
      form.append("forward_uid", String(extra.forward_uid));
      form.append("forward_parts", parts.join(","));
    }
  }
  for (const file of $("compose-files").files) form.append("attachment", file, file.name);
  return form;
}

async function onSend(event) {
  event.preventDefault();
  const recipients = ["to", "cc", "bcc"].map((n) => $(`compose-${n}`).value.trim()).join("");
  if (!recipients) {
    $("compose-error").textContent = "Add at least one recipient.";
    $("compose-to").focus();
    return;
  }
  $("compose-error").textContent = "";
  setComposeBusy(true);
  setStatus("Sending…", "busy");
  try {
    await api("POST", "/api/send", { form: composeForm() });
    const draft = state.compose && state.compose.draft_uid;
    closeCompose();
    setStatus("Message sent.");
    if (draft !== undefined && state.folder === specialFolder("drafts")) {
      // The draft has served; remove it so it does not linger.
      await api("POST", "/api/messages/delete", { json: { folder: state.folder, uids: [draft] } })
        .catch(() => {});
      clearReader();
    }
    await refreshList();
    $("compose-button").focus();
  } catch (err) {
    setStatus("");
    $("compose-error").textContent = err.message;
    setComposeBusy(false);
  }
}

async function onSaveDraft() {
  setComposeBusy(true);
  setStatus("Saving draft…", "busy");
  try {
    const saved = await api("POST", "/api/drafts", { form: composeForm() });
    if (state.compose && saved && saved.uid !== undefined) state.compose.draft_uid = saved.uid;
    setStatus("Draft saved.");
    if (state.folder === specialFolder("drafts")) await refreshList();
    else loadFolders().catch(showError);
  } catch (err) {
    setStatus("");
    $("compose-error").textContent = err.message;
  }
  setComposeBusy(false);
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("login-form").addEventListener("submit", onLogin);
  $("logout-button").addEventListener("click", onLogout);
  $("compose-button").addEventListener("click", () => openCompose());
  $("folders-toggle").addEventListener("click", () =>
    openFolders(!document.body.classList.contains("folders-open")));

  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("search-text").value.trim();
    state.search = text ? { field: $("search-field").value, text } : null;
    $("search-clear").hidden = !state.search;
    state.page = 0;
    clearReader();
    loadMessages().catch(showError);
  });
  $("search-clear").addEventListener("click", () => {
    $("search-text").value = "";
    state.search = null;
    $("search-clear").hidden = true;
    state.page = 0;
    loadMessages().catch(showError);
    $("search-text").focus();
  });
  $("sort-key").addEventListener("change", () => {
    state.sort = $("sort-key").value;
    state.page = 0;
    loadMessages().catch(showError);
  });
  $("sort-order").addEventListener("click", () => {
    state.order = state.order === "desc" ? "asc" : "desc";
    const b = $("sort-order");
    b.textContent = state.order === "desc" ? "↓" : "↑";
    b.setAttribute("aria-label", state.order === "desc" ? "Order: descending" : "Order: ascending");
    state.page = 0;
    loadMessages().catch(showError);
  });
  $("page-prev").addEventListener("click", () => {
    if (state.page > 0) { state.page--; loadMessages().catch(showError); }
  });
  $("page-next").addEventListener("click", () => {
    if ((state.page + 1) * PAGE_SIZE < state.total) { state.page++; loadMessages().catch(showError); }
  });

  $("back-button").addEventListener("click", backToList);
  $("reply-button").addEventListener("click", () => startReply("reply"));
  $("reply-all-button").addEventListener("click", () => startReply("reply_all"));
  $("forward-button").addEventListener("click", () => startReply("forward"));
  $("delete-button").addEventListener("click", deleteCurrent);
  $("seen-button").addEventListener("click", () => {
    const seen = !state.current.seen;
    changeFlags({ seen }, seen ? "Marked as read." : "Marked as unread.");
  });
  $("flag-button").addEventListener("click", () => {
    const flagged = !state.current.flagged;
    changeFlags({ flagged }, flagged ? "Flagged." : "Flag removed.");
  });
  $("move-button").addEventListener("click", () => moveOrCopy("move"));
  $("copy-button").addEventListener("click", () => moveOrCopy("copy"));
  $("images-button").addEventListener("click", () => {
    state.showImages = true;
    renderBody();
  });

  $("compose-form").addEventListener("submit", onSend);
  $("compose-draft").addEventListener("click", onSaveDraft);
  $("compose-cancel").addEventListener("click", () => {
    closeCompose();
    $("compose-button").focus();
  });

  // Up and down move between the rows of a list (Tab still walks everything).
  for (const id of ["message-list", "folder-list"]) {
    $(id).addEventListener("keydown", (e) => {
      if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
      const buttons = [...$(id).querySelectorAll("button")];
      const at = buttons.indexOf(document.activeElement);
      const next = buttons[at < 0 ? 0 : at + (e.key === "ArrowDown" ? 1 : -1)];
      if (next) {
        e.preventDefault();
        next.focus();
      }
    });
  }

  window.addEventListener("popstate", () => {
    if (document.body.dataset.pane === "message" && !(history.state && history.state.pane === "message")) {
      backToList();
    }
  });

  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    if (!$("compose-view").hidden) {
      closeCompose();
      $("compose-button").focus();
    } else if (document.body.classList.contains("folders-open")) {
      closeFolders();
      $("folders-toggle").focus();
    } else if (document.body.dataset.pane === "message") {
      backToList();
    }
  });
}

async function start() {
  wire();
  try {
    const session = await api("GET", "/api/session", { login: true });
    if (!session || !session.user) throw new ApiError(401, "auth", "");
    await enterApp(session);
  } catch (err) {
    showLogin(err.status === 401 || err.code === "auth" ? "" : err.message);
  }
}

start();
