// The agent console: my team's cases with filters, and a case with its
// whole thread, live updates, who else is there and typing, a composer
// that answers by chat or email or writes an internal note, and the
// case's status and priority.

import { Api, ApiError, staffSignIn, h, avatar, when } from "./api.js";
import { Live } from "./live.js";
import { Thread } from "./thread.js";

const api = new Api("console");
const app = document.getElementById("app");
let me = null;
let live = null;
let current = null;
let inbox = null;

function show(...nodes) { app.replaceChildren(...nodes); }

async function start() {
  const instance = await api.get("/api/v1/instance");
  document.getElementById("desk").textContent = `${instance.name} · console`;
  if (!api.signedIn) return signIn();
  try { me = await api.get("/api/v1/me"); } catch { return signIn(); }
  if (me.kind !== "staff") { await api.signOut(); return signIn("This console is for staff; clients use the portal."); }
  document.getElementById("who").replaceChildren(
    h("span", {}, avatar(me), `${me.display_name} (${me.role}) `),
    h("button", { type: "button", onclick: async () => { live?.close(); await api.signOut(); location.reload(); } }, "Sign out"));
  live = new Live(api, {
    backlog: (f) => { if (current?.id === f.case_id) { f.entries.forEach((e) => current.thread.put(e)); } },
    message: (e) => { if (current?.id === e.case_id) current.thread.put(e); loadInbox(); },
    entry_updated: (f) => { if (current?.id === f.entry.case_id) current.thread.put(f.entry); },
    presence: (f) => { if (current?.id === f.case_id) current.people.replaceChildren(...f.in_case.filter((p) => p.id !== me.id).map((p) => h("span", { class: "online" }, avatar(p), `${p.name} (${p.kind})`))); },
    typing: (f) => { if (current?.id === f.case_id) showTyping(f); },
    case_updated: (f) => { if (current?.id === f.case.id) fill(f.case); loadInbox(); },
    error: (f) => { if (current) current.error.textContent = f.message; },
  });
  await live.connect();
  home();
}

function signIn(message = "") {
  show(staffSignIn(api, "Staff sign-in", message));
}

const filters = { status: "", mine: false };

function home() {
  inbox = h("ul", { class: "cases", "aria-label": "Cases" });
  const status = h("select", { id: "f-status", onchange: () => { filters.status = status.value; loadInbox(); } },
    ...[["", "All statuses"], ["new", "New"], ["open", "Open"], ["pending_client", "Waiting for client"], ["pending_internal", "Waiting internally"], ["resolved", "Resolved"], ["closed", "Closed"]]
      .map(([v, l]) => h("option", { value: v }, l)));
  const mine = h("input", { id: "f-mine", type: "checkbox", onchange: () => { filters.mine = mine.checked; loadInbox(); } });
  const side = h("section", { class: "card", "aria-labelledby": "inbox-h" },
    h("h2", { id: "inbox-h" }, "Inbox"),
    h("label", { for: "f-status" }, "Status"), status,
    h("label", { for: "f-mine" }, mine, " Assigned to me"),
    h("p"), inbox);
  show(h("div", { class: "grid" }, side, h("section", { id: "pane", class: "card" }, h("p", {}, "Choose a case."))));
  loadInbox();
}

async function loadInbox() {
  if (!inbox) return;
  const q = new URLSearchParams({ limit: "100" });
  if (filters.status) q.set("status", filters.status);
  if (filters.mine) q.set("assignee_id", me.id);
  const page = await api.get(`/api/v1/cases?${q}`);
  inbox.replaceChildren(...page.items.map((c) => h("li", {},
    h("button", { type: "button", "aria-current": current?.id === c.id ? "true" : "false", onclick: () => openCase(c.id) },
      h("strong", {}, `${c.reference} ${c.subject}`), h("br"),
      h("span", { class: "meta" }, `${c.status.replace("_", " ")} · ${c.priority} · ${c.channel} · ${when(c.last_activity_at)}`)))));
}

function fill(c) {
  current.title.textContent = `#${c.number} ${c.subject}`;
  current.statusSel.value = c.status;
  current.prioritySel.value = c.priority;
}

let typingTimer = null;
function showTyping(f) {
  current.typing.textContent = f.active ? `${f.who.name} is ${f.who.kind === "staff" ? "replying" : "typing"}…` : "";
  clearTimeout(typingTimer);
  if (f.active) typingTimer = setTimeout(() => { if (current) current.typing.textContent = ""; }, 6000);
}

async function openCase(id) {
  if (current) live.leave(current.id);
  const list = h("ol", { class: "thread", "aria-label": "Thread" });
  const statusSel = h("select", { id: "c-status" }, ...["new", "open", "pending_client", "pending_internal", "resolved", "closed"].map((s) => h("option", { value: s }, s.replace("_", " "))));
  const prioritySel = h("select", { id: "c-priority" }, ...["low", "normal", "high", "urgent"].map((p) => h("option", { value: p }, p)));
  current = {
    id, statusSel, prioritySel,
    thread: new Thread(list),
    title: h("h2", {}),
    people: h("div", { class: "people", "aria-label": "Also here" }),
    typing: h("p", { class: "typing", "aria-live": "polite" }),
    error: h("p", { class: "error", role: "alert" }),
  };
  const c = current;
  const change = (field, sel) => async () => {
    try { fill(await api.patch(`/api/v1/cases/${id}`, { [field]: sel.value })); loadInbox(); } catch (e) { c.error.textContent = e.message; }
  };
  statusSel.addEventListener("change", change("status", statusSel));
  prioritySel.addEventListener("change", change("priority", prioritySel));
  const mode = h("select", { id: "c-mode" }, h("option", { value: "chat" }, "Chat reply"), h("option", { value: "email" }, "Email reply"), h("option", { value: "note" }, "Internal note"));
  const input = h("textarea", { id: "c-reply", "aria-label": "Reply", oninput: () => live.typing(id, input.value.length > 0, mode.value === "note"), onblur: () => live.typing(id, false) });
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    c.error.textContent = "";
    try {
      if (mode.value === "email") {
        await api.post(`/api/v1/cases/${id}/entries`, { kind: "email_out", body: text, client_message_id: crypto.randomUUID() });
      } else {
        live.send(id, text, mode.value === "note");
      }
      input.value = "";
      live.typing(id, false);
    } catch (e) { c.error.textContent = e.message; }
  } },
  h("div", { class: "row" }, h("div", {}, h("label", { for: "c-mode" }, "Send as"), mode)),
  h("label", { for: "c-reply" }, "Reply"), input, h("p"), h("button", { type: "submit" }, "Send"));
  document.getElementById("pane").replaceChildren(c.title,
    h("div", { class: "row" },
      h("div", {}, h("label", { for: "c-status" }, "Status"), statusSel),
      h("div", {}, h("label", { for: "c-priority" }, "Priority"), prioritySel)),
    h("p", { class: "meta" }, "Also here: "), c.people, list, c.typing, form, c.error);
  fill(await api.get(`/api/v1/cases/${id}`));
  (await api.get(`/api/v1/cases/${id}/entries?limit=200`)).items.forEach((e) => c.thread.put(e));
  live.join(id);
  loadInbox();
}

start().catch((e) => show(h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : String(e))));
