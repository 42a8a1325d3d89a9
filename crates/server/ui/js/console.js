// The agent console: a workspace for the whole day. Saved views with live
// counts beside a dense case list; a case with its thread, the controls to
// work it and the client's context; every view, case and account at its
// own address (reload, back and forward, a link for a colleague); live
// updates from the notification stream; keyboard shortcuts.

import { Api, ApiError, staffSignIn, pendingSecondFactor, secondFactorPanel, takeSingleSignOn, h, avatar, when, highlighted } from "./api.js";
import { Live } from "./live.js";
import { knowledgeAdmin, cannedAdmin } from "./authoring.js";
import { reportsPage, healthBlock, portfolioPage } from "./reports.js";
import { Workspace, Seen } from "./workspace.js";
import { CasePage } from "./casepage.js";
import { followNotifications, desktop } from "./notifications.js";

const api = new Api("console");
const app = document.getElementById("app");
let me = null;
let instance = null;
let live = null;
let accounts = [];
let staff = [];
let counts = [];
let workspace = null;
let casePage = null;
let seen = null;
let pane = null;
let viewsNav = null;
let route = { kind: "view", view: "mine" };

function show(...nodes) { app.replaceChildren(...nodes); }

async function start() {
  instance = await api.get("/api/v1/instance");
  document.getElementById("desk").textContent = `${instance.name} · console`;
  const ssoFailure = await takeSingleSignOn(api);
  if (!api.signedIn) return show(staffSignIn(api, "Staff sign-in", ssoFailure));
  try { me = await api.get("/api/v1/me"); } catch { return show(staffSignIn(api, "Staff sign-in")); }
  if (me.kind !== "staff") { await api.signOut(); return show(staffSignIn(api, "Staff sign-in", "This console is for staff; clients use the portal.")); }
  const pending = pendingSecondFactor(api, me);
  if (pending) return show(pending);
  api.onSessionChange(() => location.reload());
  const notifyToggle = h("button", { type: "button", class: "secondary small", id: "notify-toggle", "aria-pressed": String(desktop.on), onclick: async () => {
    if (desktop.on) desktop.disable(); else await desktop.enable();
    notifyToggle.setAttribute("aria-pressed", String(desktop.on));
    notifyToggle.textContent = desktop.on ? "Desktop notifications: on" : "Desktop notifications: off";
  } }, desktop.on ? "Desktop notifications: on" : "Desktop notifications: off");
  document.getElementById("who").replaceChildren(
    notifyToggle, " ",
    h("span", {}, avatar(me), `${me.display_name} (${me.role}) `),
    h("button", { type: "button", class: "secondary small", id: "open-two-step", onclick: async () => {
      const panel = await secondFactorPanel(api);
      show(panel, h("p", {}, h("a", { href: "/console" }, "Back to the console")));
    } }, "Two-step sign-in"), " ",
    h("button", { type: "button", onclick: async () => { live?.close(); await api.signOut(); location.assign("/console"); } }, "Sign out"));
  seen = new Seen(me);
  [accounts, staff] = await Promise.all([
    api.get("/api/v1/accounts?limit=200").then((p) => p.items).catch(() => []),
    api.get("/api/v1/staff?limit=200").then((p) => p.items).catch(() => []),
  ]);
  live = new Live(api, {
    backlog: (f) => { if (casePage.current?.id === f.case_id) f.entries.forEach((e) => casePage.current.thread.put(e)); },
    message: (e) => { casePage.message(e); soon(); },
    entry_updated: (f) => { if (casePage.current?.id === f.entry.case_id) casePage.current.thread.put(f.entry); },
    presence: (f) => casePage.presence(f),
    typing: (f) => casePage.typing(f),
    read: (f) => casePage.read(f),
    case_updated: (f) => { casePage.fill(f.case); soon(); },
    error: (f) => { if (casePage.current) casePage.current.error.textContent = f.message; },
  });
  await live.connect();
  const ctx = { api, me, staff, accounts, live, seen, navigate, refreshCounts, refreshList: soon, openAccount: (id) => navigate(`/console/accounts/${id}`) };
  workspace = new Workspace(ctx);
  casePage = new CasePage(ctx);
  layout();
  followNotifications(api, notified);
  // Countdowns move on their own; the list re-reads its clocks now and then.
  setInterval(() => { if (document.visibilityState === "visible") soon(); }, 60_000);
  window.addEventListener("popstate", () => render());
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-nav]");
    if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    navigate(a.getAttribute("href"));
  });
  document.addEventListener("keydown", shortcut);
  await render();
}

// ---------- layout and addresses ----------

function layout() {
  viewsNav = h("nav", { id: "views", "aria-label": "Views" });
  const q = h("input", { id: "q", type: "search", placeholder: "Cases, accounts, contacts, files" });
  const search = h("form", { role: "search", onsubmit: (ev) => { ev.preventDefault(); if (q.value.trim()) navigate(`/console/search?q=${encodeURIComponent(q.value.trim())}`); } },
    h("label", { for: "q" }, "Search"), h("div", { class: "row" }, q, h("button", { type: "submit", id: "search-go" }, "Search")));
  const tools = h("nav", { class: "tools", "aria-label": "Tools" },
    ...[["knowledge", "Knowledge base", "nav-kb"], ["canned", "Canned responses", "nav-canned"], ["reports", "Reports", "nav-reports"], ["portfolio", "My accounts", "nav-portfolio"]]
      .map(([path, label, id]) => h("a", { href: `/console/${path}`, "data-nav": "", id }, label)),
    h("button", { type: "button", class: "secondary small", id: "shortcuts-open", onclick: () => toggleShortcuts() }, "Keyboard shortcuts (?)"));
  pane = h("section", { id: "pane", class: "card", tabindex: "-1" });
  show(h("div", { class: "workspace" },
    h("aside", { class: "card sidebar", "aria-label": "Navigation" }, search, h("h2", { class: "sr-only" }, "Views"), viewsNav, tools),
    pane));
  refreshCounts();
}

function navigate(path) {
  if (path !== location.pathname + location.search) history.pushState(null, "", path);
  render();
}

async function render() {
  const path = location.pathname.replace(/\/+$/, "");
  const parts = path.split("/").slice(2); // after "/console"
  if (parts[0] !== "cases") casePage.close();
  try {
    if (!parts.length || parts[0] === "" ) {
      history.replaceState(null, "", "/console/views/mine");
      return render();
    }
    switch (parts[0]) {
      case "views":
        route = { kind: "view", view: parts[1] || "mine" };
        markViews();
        await workspace.show(pane, route.view, counts);
        document.title = `${counts.find((v) => v.key === route.view)?.label || "Cases"} · console`;
        return;
      case "cases":
        route = { kind: "case" };
        markViews();
        await casePage.open(pane, decodeURIComponent(parts[1]));
        return;
      case "accounts":
        route = { kind: "account" };
        markViews();
        return openAccount(decodeURIComponent(parts[1]));
      case "search":
        route = { kind: "search" };
        markViews();
        return runSearch(new URLSearchParams(location.search).get("q") || "");
      case "knowledge":
        route = { kind: "tool" };
        markViews();
        return knowledgeAdmin(api, pane, instance, accounts, me.role !== "auditor");
      case "canned":
        route = { kind: "tool" };
        markViews();
        return cannedAdmin(api, pane, me);
      case "reports":
        route = { kind: "tool" };
        markViews();
        return reportsPage(api, pane, instance);
      case "portfolio":
        route = { kind: "tool" };
        markViews();
        return portfolioPage(api, pane, (id) => navigate(`/console/accounts/${id}`));
      default:
        pane.replaceChildren(h("h2", {}, "Nothing here"), h("p", {}, h("a", { href: "/console/views/mine", "data-nav": "" }, "Back to my cases")));
    }
  } catch (e) {
    pane.replaceChildren(h("h2", {}, "This could not be opened"), h("p", { class: "error", role: "alert" }, e.message),
      h("p", {}, h("a", { href: "/console/views/mine", "data-nav": "" }, "Back to my cases")));
  }
}

async function refreshCounts() {
  counts = await api.get("/api/v1/cases/views").catch(() => counts);
  viewsNav.replaceChildren(h("ul", { class: "plain" }, ...counts.map((v) => h("li", {},
    h("a", { href: `/console/views/${v.key}`, "data-nav": "", "data-view": v.key, class: "view-link" },
      h("span", {}, v.label), h("span", { class: "count", "aria-label": `${v.count} cases` }, String(v.count)))))));
  markViews();
}

function markViews() {
  for (const a of viewsNav?.querySelectorAll("a[data-view]") || []) {
    if (route.kind === "view" && a.dataset.view === route.view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

// ---------- live ----------

let soonTimer = null;
/// Refreshes the list and the counts once things settle (many events
/// arrive together).
function soon() {
  clearTimeout(soonTimer);
  soonTimer = setTimeout(() => { refreshCounts(); if (route.kind === "view") workspace.refresh(); }, 250);
}

function notified(n) {
  if (n.kind === "connected" || n.kind === "lagged") { soon(); return; }
  soon();
  const mine = n.assignee_id === me.id;
  const open = () => navigate(`/console/cases/${n.case_number}`);
  if (n.kind === "chat_started" || n.kind === "case_opened") desktop.show(n.kind === "chat_started" ? "New chat" : "New case", n.text, open);
  else if (n.kind === "client_message" && mine && casePage.current?.detail?.number !== n.case_number) desktop.show("The client wrote", n.text, open);
  else if (n.kind === "sla_breached" && mine) desktop.show("Service level breached", n.text, open);
}

// ---------- keyboard ----------

const SHORTCUTS = [["j / k", "next / previous case in the list"], ["Enter", "open the case"], ["r", "reply"], ["n", "internal note"],
  ["a", "assignee"], ["s", "status"], ["/", "search"], ["?", "these shortcuts"], ["Ctrl+Enter", "send what you wrote"], ["Esc", "leave a field"]];

function toggleShortcuts() {
  let dialog = document.getElementById("shortcuts");
  if (dialog) { dialog.remove(); return; }
  dialog = h("div", { id: "shortcuts", role: "dialog", "aria-label": "Keyboard shortcuts", class: "card shortcuts" },
    h("h2", {}, "Keyboard shortcuts"),
    h("table", {}, h("tbody", {}, ...SHORTCUTS.map(([k, what]) => h("tr", {}, h("th", { scope: "row" }, h("kbd", {}, k)), h("td", {}, what))))),
    h("button", { type: "button", onclick: () => dialog.remove() }, "Close"));
  document.body.append(dialog);
  dialog.querySelector("button").focus();
}

function shortcut(ev) {
  const target = ev.target;
  const typing = target.closest?.("input, textarea, select, [contenteditable]");
  if (ev.key === "Escape") {
    document.getElementById("shortcuts")?.remove();
    if (typing) target.blur();
    return;
  }
  if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const cur = casePage.current;
  const act = {
    j: () => route.kind === "view" && workspace.move(1),
    k: () => route.kind === "view" && workspace.move(-1),
    Enter: () => route.kind === "view" && workspace.openCursor(),
    "/": () => document.getElementById("q")?.focus(),
    "?": () => toggleShortcuts(),
    r: () => { if (cur?.mode) { if (cur.mode.value === "note") { cur.mode.value = cur.detail.channel === "email" ? "email" : "chat"; cur.mode.dispatchEvent(new Event("change")); } cur.input.focus(); } },
    n: () => { if (cur?.mode) { cur.mode.value = "note"; cur.mode.dispatchEvent(new Event("change")); cur.input.focus(); } },
    a: () => cur?.assigneeSel.focus(),
    s: () => cur?.statusSel.focus(),
  }[ev.key];
  if (act) { ev.preventDefault(); act(); }
}

// ---------- search and accounts ----------

async function runSearch(words) {
  const q = encodeURIComponent(words);
  const [cases, found, people] = await Promise.all([
    api.get(`/api/v1/search?q=${q}&limit=50`).catch(() => ({ items: [] })),
    api.get(`/api/v1/accounts?q=${q}&limit=20`).catch(() => ({ items: [] })),
    api.get(`/api/v1/contacts?q=${q}&limit=20`).catch(() => ({ items: [] })),
  ]);
  const accountName = new Map(accounts.map((a) => [a.id, a.name]));
  pane.replaceChildren(...[h("h2", {}, `Search: ${words}`),
    found.items.length ? h("section", {}, h("h3", {}, "Accounts"), h("ul", { class: "plain", id: "found-accounts" }, ...found.items.map((a) => h("li", {},
      h("a", { href: `/console/accounts/${a.id}`, "data-nav": "" }, a.name), h("span", { class: "meta" }, ` · ${a.domains.join(", ")}`))))) : null,
    people.items.length ? h("section", {}, h("h3", {}, "Contacts"), h("ul", { class: "plain", id: "found-contacts" }, ...people.items.map((c) => h("li", {},
      h("a", { href: `/console/accounts/${c.account_id}`, "data-nav": "" }, c.name), h("span", { class: "meta" }, ` · ${c.function} · ${c.emails.join(", ")} · ${accountName.get(c.account_id) || ""}`))))) : null,
    h("h3", {}, "In cases"),
    cases.items.length ? h("ul", { class: "cases", id: "results" }, ...cases.items.map((hit) => h("li", {},
      h("a", { href: `/console/cases/${hit.case_id}`, "data-nav": "", class: "hit" },
        h("span", { class: `badge ${hit.kind}` }, hit.kind), " ", highlighted(hit), h("br"),
        h("span", { class: "meta" }, when(hit.created_at))))))
      : h("p", {}, "No case mentions this.")].filter(Boolean));
}

async function openAccount(id) {
  const [a, sla, timeline, subsidiaries] = await Promise.all([
    api.get(`/api/v1/accounts/${id}`),
    api.get(`/api/v1/accounts/${id}/sla`).catch(() => null),
    api.get(`/api/v1/accounts/${id}/timeline?limit=50`),
    api.get(`/api/v1/accounts?parent_id=${id}&limit=200`).then((p) => p.items).catch(() => []),
  ]);
  const parent = a.parent_id ? await api.get(`/api/v1/accounts/${a.parent_id}`).catch(() => null) : null;
  const link = (o) => h("a", { href: `/console/accounts/${o.id}`, "data-nav": "" }, o.name);
  document.title = `${a.name} · console`;
  const clocks = sla ? [["First response", sla.first_response], ["Next response", sla.next_response], ["Resolution", sla.resolution]] : [];
  const health = await healthBlock(api, id);
  pane.replaceChildren(...[
    h("h2", { id: "account-h" }, a.name),
    me.role === "auditor" ? null : h("p", {}, h("button", { type: "button", class: "secondary", id: "reach-out", onclick: () => outreach(a) }, "Reach out to contacts…")),
    health,
    h("p", { class: "meta" }, `${a.tier} · ${a.lifecycle} · ${a.domains.join(", ") || "no domains"}`),
    parent || subsidiaries.length ? h("p", { id: "group" },
      parent ? [h("strong", {}, "Part of the group of "), link(parent), subsidiaries.length ? " · " : ""] : null,
      subsidiaries.length ? [h("strong", {}, "Subsidiaries: "), ...subsidiaries.flatMap((o, i) => (i ? [", ", link(o)] : [link(o)])),
        h("span", { class: "meta" }, " (health and reports include them)")] : null) : null,
    h("p", {}, h("strong", {}, "Team: "), a.team ? a.team.name : "none", a.team_inherited ? " (the group's)" : "", a.team ? h("span", { class: "people" }, ...a.team.members.map((m) => h("span", {}, avatar(m), m.display_name))) : null),
    h("p", {}, h("strong", {}, "Owner: "), a.owner ? a.owner.display_name : "none"),
    a.notes ? h("p", { class: "meta" }, a.notes) : null,
    h("h3", {}, `Contacts (${a.contact_count})`),
    h("table", { id: "contacts" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Function"), h("th", { scope: "col" }, "Email"))),
      h("tbody", {}, ...a.contacts.map((c) => h("tr", {}, h("td", {}, c.name, c.is_primary ? " (primary)" : ""), h("td", {}, c.function), h("td", {}, c.emails[0] || ""))))),
    sla ? h("h3", {}, `Service levels (${sla.tier})`) : null,
    sla ? h("table", { id: "sla" }, h("thead", {}, h("tr", {}, ...["Clock", "Met", "Missed", "Running", "Attainment"].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, ...clocks.map(([name, c]) => h("tr", {}, h("td", {}, name), h("td", {}, c.met), h("td", {}, c.missed), h("td", {}, c.running),
        h("td", {}, c.attainment_percent === null ? "–" : `${c.attainment_percent.toFixed(1)} %`))))) : null,
    h("h3", {}, "Timeline"),
    h("ol", { class: "thread", id: "timeline" }, ...timeline.items.map((e) => h("li", { class: e.kind === "note" ? "note" : "" },
      h("div", { class: "meta" }, h("span", { class: `badge ${e.kind}` }, e.kind), " ", when(e.created_at), " ",
        h("a", { href: `/console/cases/${e.case_id}`, "data-nav": "" }, "Open case")),
      h("p", { class: "body" }, e.body)))),
  ].filter(Boolean));
}

/// Proactive outreach: a case opened by the team to some of the account's
/// contacts, sent by email and shown in their portal.
function outreach(a) {
  const err = h("p", { class: "error", role: "alert" });
  const boxes = a.contacts.map((c) => h("label", {}, h("input", { type: "checkbox", value: c.id, "data-contact": c.id }), ` ${c.name} (${c.emails[0] || "no email"})`));
  const subject = h("input", { id: "o-subject", maxlength: "200" });
  const body = h("textarea", { id: "o-body", rows: "6" });
  pane.replaceChildren(h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    const participant_ids = boxes.map((l) => l.firstChild).filter((x) => x.checked).map((x) => x.value);
    if (!participant_ids.length) { err.textContent = "Choose at least one contact."; return; }
    try {
      const opened = await api.post("/api/v1/cases", { account_id: a.id, subject: subject.value, body: body.value, participant_ids, channel: "email", client_message_id: crypto.randomUUID() });
      navigate(`/console/cases/${opened.case.number}`);
    } catch (e) { err.textContent = e.message; }
  } },
  h("h2", {}, `Reach out to ${a.name}`),
  h("p", { class: "meta" }, "The message goes by email to the chosen contacts and appears in their portal; their answers thread into this case."),
  h("fieldset", {}, h("legend", {}, "To"), ...boxes),
  h("label", { for: "o-subject" }, "Subject"), subject,
  h("label", { for: "o-body" }, "Message"), body,
  h("p"), h("button", { type: "submit", id: "o-send" }, "Send"), err));
}

start().catch((e) => show(h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : String(e))));
