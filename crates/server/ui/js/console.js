// The agent console: my team's cases with filters, and a case with its
// whole thread, live updates, who else is there and typing, a composer
// that answers by chat or email or writes an internal note, and the
// case's status and priority.

import { Api, ApiError, staffSignIn, h, avatar, when, highlighted } from "./api.js";
import { Live } from "./live.js";
import { Thread } from "./thread.js";
import { knowledgeAdmin, cannedAdmin } from "./authoring.js";
import { reportsPage, healthBlock, portfolioPage } from "./reports.js";
import { appointmentsSection } from "./appointments.js";

const api = new Api("console");
const app = document.getElementById("app");
let me = null;
let live = null;
let current = null;
let inbox = null;
let instance = null;

function show(...nodes) { app.replaceChildren(...nodes); }

async function start() {
  instance = await api.get("/api/v1/instance");
  document.getElementById("desk").textContent = `${instance.name} · console`;
  if (!api.signedIn) return signIn();
  try { me = await api.get("/api/v1/me"); } catch { return signIn(); }
  if (me.kind !== "staff") { await api.signOut(); return signIn("This console is for staff; clients use the portal."); }
  document.getElementById("who").replaceChildren(
    h("span", {}, avatar(me), `${me.display_name} (${me.role}) `),
    h("button", { type: "button", onclick: async () => { live?.close(); await api.signOut(); location.reload(); } }, "Sign out"));
  live = new Live(api, {
    backlog: (f) => { if (current?.id === f.case_id) { f.entries.forEach((e) => current.thread.put(e)); } },
    message: (e) => {
      if (current?.id === e.case_id) {
        current.thread.put(e);
        current.typing.textContent = "";
        // Scheduling steps are written to the thread as events.
        if (e.kind === "event") current.appointments?.refresh();
      }
      loadInbox();
    },
    entry_updated: (f) => { if (current?.id === f.entry.case_id) current.thread.put(f.entry); },
    presence: (f) => { if (current?.id === f.case_id) current.people.replaceChildren(...f.in_case.filter((p) => p.id !== me.id).map((p) => h("span", { class: "online" }, avatar(p), `${p.name} (${p.kind})`))); },
    typing: (f) => { if (current?.id === f.case_id) showTyping(f); },
    case_updated: (f) => { if (current?.id === f.case.id) fill(f.case); loadInbox(); },
    error: (f) => { if (current) current.error.textContent = f.message; },
  });
  await live.connect();
  accounts = (await api.get("/api/v1/accounts?limit=200").catch(() => ({ items: [] }))).items;
  home();
  // Countdowns move on their own.
  setInterval(() => loadInbox(), 60000);
}

function pane(...nodes) {
  if (current) { live.leave(current.id); current = null; }
  // Optional parts come as null; a DOM call would print them as text.
  document.getElementById("pane").replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
}

async function runSearch(words) {
  const res = await api.get(`/api/v1/search?q=${encodeURIComponent(words)}&limit=50`);
  pane(h("h2", {}, `Search: ${words}`),
    res.items.length ? h("ul", { class: "cases", id: "results" }, ...res.items.map((hit) => h("li", {},
      h("button", { type: "button", onclick: () => openCase(hit.case_id) },
        h("span", { class: `badge ${hit.kind}` }, hit.kind), " ", highlighted(hit), h("br"),
        h("span", { class: "meta" }, when(hit.created_at))))))
      : h("p", {}, "Nothing found."));
}

async function openAccount(id) {
  const [a, sla, timeline] = await Promise.all([
    api.get(`/api/v1/accounts/${id}`),
    api.get(`/api/v1/accounts/${id}/sla`).catch(() => null),
    api.get(`/api/v1/accounts/${id}/timeline?limit=50`),
  ]);
  const clocks = sla ? [["First response", sla.first_response], ["Next response", sla.next_response], ["Resolution", sla.resolution]] : [];
  const health = await healthBlock(api, id);
  pane(
    h("h2", { id: "account-h" }, a.name),
    me.role === "auditor" ? null : h("p", {}, h("button", { type: "button", class: "secondary", id: "reach-out", onclick: () => outreach(a) }, "Reach out to contacts…")),
    health,
    h("p", { class: "meta" }, `${a.tier} · ${a.lifecycle} · ${a.domains.join(", ") || "no domains"}`),
    h("p", {}, h("strong", {}, "Team: "), a.team ? a.team.name : "none", a.team ? h("span", { class: "people" }, ...a.team.members.map((m) => h("span", {}, avatar(m), m.display_name))) : null),
    h("p", {}, h("strong", {}, "Owner: "), a.owner ? a.owner.display_name : "none"),
    a.notes ? h("p", { class: "meta" }, a.notes) : null,
    h("h3", {}, `Contacts (${a.contact_count})`),
    h("table", { id: "contacts" }, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Function"), h("th", {}, "Email"))),
      h("tbody", {}, ...a.contacts.map((c) => h("tr", {}, h("td", {}, c.name, c.is_primary ? " (primary)" : ""), h("td", {}, c.function), h("td", {}, c.emails[0] || ""))))),
    sla ? h("h3", {}, `Service levels (${sla.tier})`) : null,
    sla ? h("table", { id: "sla" }, h("thead", {}, h("tr", {}, h("th", {}, "Clock"), h("th", {}, "Met"), h("th", {}, "Missed"), h("th", {}, "Running"), h("th", {}, "Attainment"))),
      h("tbody", {}, ...clocks.map(([name, c]) => h("tr", {}, h("td", {}, name), h("td", {}, c.met), h("td", {}, c.missed), h("td", {}, c.running),
        h("td", {}, c.attainment_percent === null ? "–" : `${c.attainment_percent.toFixed(1)} %`))))) : null,
    h("h3", {}, "Timeline"),
    h("ol", { class: "thread", id: "timeline" }, ...timeline.items.map((e) => h("li", { class: e.kind === "note" ? "note" : "" },
      h("div", { class: "meta" }, h("span", { class: `badge ${e.kind}` }, e.kind), " ", when(e.created_at), " ",
        h("button", { type: "button", class: "secondary", onclick: () => openCase(e.case_id) }, "Open case")),
      h("p", { class: "body" }, e.body)))));
}

/// Proactive outreach: a case opened by the team to some of the account's
/// contacts, sent by email and shown in their portal.
function outreach(a) {
  const err = h("p", { class: "error", role: "alert" });
  const boxes = a.contacts.map((c) => h("label", {}, h("input", { type: "checkbox", value: c.id, "data-contact": c.id }), ` ${c.name} (${c.emails[0] || "no email"})`));
  const subject = h("input", { id: "o-subject", maxlength: "200" });
  const body = h("textarea", { id: "o-body", rows: "6" });
  pane(h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    const participant_ids = boxes.map((l) => l.firstChild).filter((x) => x.checked).map((x) => x.value);
    if (!participant_ids.length) { err.textContent = "Choose at least one contact."; return; }
    try {
      const opened = await api.post("/api/v1/cases", { account_id: a.id, subject: subject.value, body: body.value, participant_ids, channel: "email", client_message_id: crypto.randomUUID() });
      await loadInbox();
      openCase(opened.case.id);
    } catch (e) { err.textContent = e.message; }
  } },
  h("h2", {}, `Reach out to ${a.name}`),
  h("p", { class: "meta" }, "The message goes by email to the chosen contacts and appears in their portal; their answers thread into this case."),
  h("fieldset", {}, h("legend", {}, "To"), ...boxes),
  h("label", { for: "o-subject" }, "Subject"), subject,
  h("label", { for: "o-body" }, "Message"), body,
  h("p"), h("button", { type: "submit", id: "o-send" }, "Send"), err));
}

function signIn(message = "") {
  show(staffSignIn(api, "Staff sign-in", message));
}

const filters = { status: "", mine: false, account: "", priority: "", sla: "" };

/// "due in 2 h 05 min", "overdue by 12 min", or "" without a running target.
function countdown(c) {
  if (!c.sla_due_at) return "";
  const minutes = Math.round((new Date(c.sla_due_at) - Date.now()) / 60000);
  const span = (m) => (Math.abs(m) >= 60 ? `${Math.floor(Math.abs(m) / 60)} h ${String(Math.abs(m) % 60).padStart(2, "0")} min` : `${Math.abs(m)} min`);
  return c.sla_breached || minutes < 0 ? `SLA overdue by ${span(minutes)}` : `SLA due in ${span(minutes)}`;
}
let accounts = [];

function home() {
  inbox = h("ul", { class: "cases", "aria-label": "Cases" });
  const status = h("select", { id: "f-status", onchange: () => { filters.status = status.value; loadInbox(); } },
    ...[["", "All statuses"], ["new", "New"], ["open", "Open"], ["pending_client", "Waiting for client"], ["pending_internal", "Waiting internally"], ["resolved", "Resolved"], ["closed", "Closed"]]
      .map(([v, l]) => h("option", { value: v }, l)));
  const mine = h("input", { id: "f-mine", type: "checkbox", onchange: () => { filters.mine = mine.checked; loadInbox(); } });
  const account = h("select", { id: "f-account", onchange: () => { filters.account = account.value; loadInbox(); } },
    h("option", { value: "" }, "All accounts"), ...accounts.map((a) => h("option", { value: a.id }, a.name)));
  const sla = h("select", { id: "f-sla", onchange: () => { filters.sla = sla.value; loadInbox(); } },
    h("option", { value: "" }, "Any"), h("option", { value: "4" }, "Due within 4 hours"), h("option", { value: "overdue" }, "Overdue"));
  const priority = h("select", { id: "f-priority", onchange: () => { filters.priority = priority.value; loadInbox(); } },
    h("option", { value: "" }, "Any priority"), ...["urgent", "high", "normal", "low"].map((p) => h("option", { value: p }, p)));
  const q = h("input", { id: "q", type: "search", placeholder: "Words in subjects and messages" });
  const search = h("form", { role: "search", onsubmit: (ev) => { ev.preventDefault(); if (q.value.trim()) runSearch(q.value); } },
    h("label", { for: "q" }, "Search"), h("div", { class: "row" }, q, h("button", { type: "submit", id: "search-go" }, "Search")));
  const nav = h("div", { class: "row", id: "nav" },
    h("button", { type: "button", class: "secondary small", id: "nav-kb", onclick: () => { pane(); knowledgeAdmin(api, document.getElementById("pane"), instance, accounts, me.role !== "auditor"); } }, "Knowledge base"),
    h("button", { type: "button", class: "secondary small", id: "nav-canned", onclick: () => { pane(); cannedAdmin(api, document.getElementById("pane"), me); } }, "Canned responses"),
    h("button", { type: "button", class: "secondary small", id: "nav-reports", onclick: () => { pane(); reportsPage(api, document.getElementById("pane"), instance); } }, "Reports"),
    h("button", { type: "button", class: "secondary small", id: "nav-portfolio", onclick: () => { pane(); portfolioPage(api, document.getElementById("pane"), openAccount); } }, "My accounts"));
  const side = h("section", { class: "card", "aria-labelledby": "inbox-h" },
    nav,
    search,
    h("h2", { id: "inbox-h" }, "Inbox"),
    h("label", { for: "f-status" }, "Status"), status,
    h("label", { for: "f-account" }, "Account"), account,
    h("label", { for: "f-priority" }, "Priority"), priority,
    h("label", { for: "f-sla" }, "Service level"), sla,
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
  if (filters.account) q.set("account_id", filters.account);
  const page = await api.get(`/api/v1/cases?${q}`);
  const soon = Date.now() + 4 * 3600 * 1000;
  const items = page.items
    .filter((c) => !filters.priority || c.priority === filters.priority)
    .filter((c) => !filters.sla
      || (filters.sla === "overdue" ? c.sla_breached : c.sla_due_at && new Date(c.sla_due_at) <= soon))
    .sort((a, b) => (filters.sla ? new Date(a.sla_due_at) - new Date(b.sla_due_at) : 0));
  inbox.replaceChildren(...items.map((c) => h("li", {},
    h("button", { type: "button", "aria-current": current?.id === c.id ? "true" : "false", onclick: () => openCase(c.id) },
      h("strong", {}, `${c.reference} ${c.subject}`), h("br"),
      h("span", { class: "meta" }, `${c.status.replace("_", " ")} · ${c.priority} · ${c.channel} · ${when(c.last_activity_at)}`),
      countdown(c) ? h("span", { class: c.sla_breached ? "sla overdue" : "sla" }, h("br"), countdown(c)) : null))));
}

function fill(c) {
  current.title.textContent = `#${c.number} ${c.subject}`;
  if (current.sla && "sla_due_at" in c) current.sla.textContent = countdown(c);
  current.statusSel.value = c.status;
  current.prioritySel.value = c.priority;
}

/// Versions of edited entries for staff; redaction for admins.
function entryTools(caseId, e) {
  const tools = [];
  const path = `/api/v1/cases/${caseId}/entries/${e.id}`;
  if (e.version > 1 && !e.redacted && !e.redaction) {
    const box = h("div", { class: "versions" });
    tools.push(h("button", { type: "button", class: "secondary small", "data-versions": e.id, onclick: async () => {
      const versions = await api.get(`${path}/versions`);
      box.replaceChildren(h("ol", {}, ...versions.map((v) => h("li", {},
        h("span", { class: "meta" }, `version ${v.version} · ${when(v.written_at)} · SHA-256 ${v.body_sha256.slice(0, 12)}…`),
        h("p", { class: "body" }, v.body)))));
    } }, "Versions"), box);
  }
  if (me.role !== "admin") return tools;
  const refresh = async () => {
    const fresh = (await api.get(`/api/v1/cases/${caseId}/entries?limit=200`)).items.find((x) => x.id === e.id);
    if (fresh && current) current.thread.put(fresh);
  };
  // One control per thing that can be removed: the entry's text, each file.
  const control = (label, key, url) => {
    const reason = h("input", { "aria-label": "Why this content must go", placeholder: "Why (kept on the tombstone)", "data-reason": key });
    const confirm = h("div", { class: "row", hidden: true }, reason,
      h("button", { type: "button", "data-redact-confirm": key, onclick: async () => {
        try { await api.post(url, { reason: reason.value }); } catch (err) { current.error.textContent = err.message; return; }
        await refresh();
      } }, "Remove for good"));
    return [h("button", { type: "button", class: "secondary small", "data-redact": key, onclick: () => { confirm.hidden = false; reason.focus(); } }, label), confirm];
  };
  if (e.kind !== "event" && !e.redacted && !e.redaction) tools.push(...control("Redact…", e.id, `${path}/redact`));
  for (const a of e.attachments || []) {
    if (!a.redaction) tools.push(...control(`Redact ${a.filename}…`, a.id, `/api/v1/attachments/${a.id}/redact`));
  }
  return tools;
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
    thread: new Thread(list, (e) => entryTools(id, e), api),
    title: h("h2", {}),
    sla: h("p", { class: "sla", id: "c-sla" }),
    people: h("div", { class: "people", "aria-label": "Also here" }),
    typing: h("p", { class: "typing", "aria-live": "polite" }),
    error: h("p", { class: "error", role: "alert" }),
  };
  const c = current;
  c.appointments = me.role === "auditor" ? null : appointmentsSection(api, id, "staff");
  const change = (field, sel) => async () => {
    try { fill(await api.patch(`/api/v1/cases/${id}`, { [field]: sel.value })); loadInbox(); } catch (e) { c.error.textContent = e.message; }
  };
  statusSel.addEventListener("change", change("status", statusSel));
  prioritySel.addEventListener("change", change("priority", prioritySel));
  const mode = h("select", { id: "c-mode" }, h("option", { value: "chat" }, "Chat reply"), h("option", { value: "email" }, "Email reply"), h("option", { value: "note" }, "Internal note"));
  const input = h("textarea", { id: "c-reply", "aria-label": "Reply", oninput: () => live.typing(id, input.value.length > 0, mode.value === "note"), onblur: () => live.typing(id, false) });
  const canned = h("select", { id: "c-canned", "aria-label": "Insert a canned response" }, h("option", { value: "" }, "Insert a canned response…"),
    ...(await api.get("/api/v1/canned-responses").catch(() => [])).map((r) => h("option", { value: r.id }, r.title)));
  canned.addEventListener("change", async () => {
    if (!canned.value) return;
    try {
      const { text } = await api.post(`/api/v1/canned-responses/${canned.value}/render`, { case_id: id });
      const at = input.selectionStart ?? input.value.length;
      input.value = input.value.slice(0, at) + text + input.value.slice(input.selectionEnd ?? at);
      input.focus();
    } catch (e) { c.error.textContent = e.message; }
    canned.value = "";
  });
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
  h("div", { class: "row" }, h("div", {}, h("label", { for: "c-mode" }, "Send as"), mode), h("div", {}, h("label", { for: "c-canned" }, "Canned response"), canned)),
  h("label", { for: "c-reply" }, "Reply"), input, h("p"), h("button", { type: "submit" }, "Send"));
  const detail = await api.get(`/api/v1/cases/${id}`);
  const account = await api.get(`/api/v1/accounts/${detail.account_id}`).catch(() => null);
  const assigneeSel = h("select", { id: "c-assignee" }, h("option", { value: "" }, "Unassigned"),
    ...(account?.team?.members || []).map((m) => h("option", { value: m.id }, m.display_name)));
  assigneeSel.value = detail.assignee_id || "";
  assigneeSel.addEventListener("change", async () => {
    try { fill(await api.patch(`/api/v1/cases/${id}`, { assignee_id: assigneeSel.value || null })); loadInbox(); } catch (e) { c.error.textContent = e.message; }
  });
  const siblings = (await api.get(`/api/v1/cases?account_id=${detail.account_id}&limit=100`)).items.filter((o) => o.id !== id && !o.merged_into_id);
  const mergeSel = h("select", { id: "c-merge" }, h("option", { value: "" }, "Merge into…"), ...siblings.map((o) => h("option", { value: o.id }, `${o.reference} ${o.subject}`)));
  const mergeBtn = h("button", { type: "button", class: "secondary", onclick: async () => {
    if (!mergeSel.value) return;
    try { const kept = await api.post(`/api/v1/cases/${id}/merge`, { into: mergeSel.value }); await loadInbox(); openCase(kept.id); } catch (e) { c.error.textContent = e.message; }
  } }, "Merge");
  document.getElementById("pane").replaceChildren(...[c.title, c.sla,
    h("p", {}, h("button", { type: "button", class: "secondary", id: "c-account", onclick: () => openAccount(detail.account_id) }, `Account: ${account?.name || "…"}`)),
    h("div", { class: "row" },
      h("div", {}, h("label", { for: "c-status" }, "Status"), statusSel),
      h("div", {}, h("label", { for: "c-priority" }, "Priority"), prioritySel),
      h("div", {}, h("label", { for: "c-assignee" }, "Assignee"), assigneeSel)),
    h("div", { class: "row" }, h("div", {}, h("label", { for: "c-merge" }, "Merge"), mergeSel), mergeBtn),
    detail.articles_shown?.length ? h("p", { class: "meta", id: "c-shown" }, "Before opening, the client read: ", detail.articles_shown.map((a) => a.title).join("; ")) : null,
    h("p", { class: "meta", id: "c-rating" }),
    h("p", { class: "meta" }, "Also here: "), c.people, list, c.typing, form, c.error, c.appointments].filter(Boolean));
  fill(detail);
  api.get(`/api/v1/cases/${id}/satisfaction`).then((s) => {
    const el = document.getElementById("c-rating");
    if (el && s.status === "rated") el.textContent = `Client rating: ${s.rating} of 5${s.comment ? ` · “${s.comment}”` : ""}`;
    else if (el && s.status === "open") el.textContent = "Rating asked, not answered yet.";
  }).catch(() => {});
  (await api.get(`/api/v1/cases/${id}/entries?limit=200`)).items.forEach((e) => c.thread.put(e));
  live.join(id);
  loadInbox();
}

start().catch((e) => show(h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : String(e))));
