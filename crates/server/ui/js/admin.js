// Administration: staff, teams and their members, accounts with their
// dedicated team, contacts, and API tokens. Every change goes through the
// same API (and audit log) as any other client.

import { Api, ApiError, staffSignIn, h } from "./api.js";

const api = new Api("admin");
const app = document.getElementById("app");
const SCOPES = ["audit:read", "directory:read", "mail:ingest"];

function show(...nodes) { app.replaceChildren(...nodes); }

async function start() {
  const instance = await api.get("/api/v1/instance");
  document.getElementById("desk").textContent = `${instance.name} · administration`;
  if (!api.signedIn) return show(staffSignIn(api, "Administrator sign-in"));
  let me;
  try { me = await api.get("/api/v1/me"); } catch { return show(staffSignIn(api, "Administrator sign-in")); }
  if (me.role !== "admin") { await api.signOut(); return show(staffSignIn(api, "Administrator sign-in", "This page is for admins.")); }
  document.getElementById("who").replaceChildren(
    h("span", {}, `${me.display_name} (admin) `),
    h("button", { type: "button", onclick: async () => { await api.signOut(); location.reload(); } }, "Sign out"));
  const sections = { staff: staffSection, teams: teamsSection, accounts: accountsSection, contacts: contactsSection, sla: slaSection, tokens: tokensSection };
  const nav = h("nav", { "aria-label": "Sections", class: "row" },
    ...Object.entries({ staff: "Staff", teams: "Teams", accounts: "Accounts", contacts: "Contacts", sla: "Service levels", tokens: "API tokens" })
      .map(([key, label]) => h("button", { type: "button", class: "secondary", id: `nav-${key}`, onclick: () => open(key) }, label)));
  const body = h("div", { id: "section" });
  show(nav, h("p"), body);
  async function open(key) {
    body.replaceChildren(h("p", {}, "Loading…"));
    try { body.replaceChildren(...(await sections[key]())); } catch (e) { body.replaceChildren(h("p", { class: "error", role: "alert" }, e.message)); }
  }
  open("staff");
}

function formError() { return h("p", { class: "error", role: "alert" }); }

function table(headers, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))));
}

async function staffSection() {
  const list = (await api.get("/api/v1/staff?limit=200")).items;
  const email = h("input", { id: "s-email", type: "email", required: true });
  const name = h("input", { id: "s-name", required: true });
  const role = h("select", { id: "s-role" }, ...["agent", "admin", "auditor"].map((r) => h("option", { value: r }, r)));
  const err = formError();
  const created = h("p", { role: "status", id: "s-created" });
  return [h("section", { class: "card" }, h("h2", {}, "Staff"),
    table(["Name", "Email", "Role", "Active"], list.map((s) => [s.display_name, s.email, s.role, s.active ? "yes" : "no"]))),
  h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await api.post("/api/v1/staff", { email: email.value, name: name.value, role: role.value });
      created.textContent = `Created ${r.staff.display_name}. One-time password (shown once): ${r.one_time_password}`;
    } catch (e) { err.textContent = e.message; }
  } }, h("h3", {}, "Add a staff member"),
  h("label", { for: "s-email" }, "Email"), email, h("label", { for: "s-name" }, "Name"), name,
  h("label", { for: "s-role" }, "Role"), role, h("p"), h("button", { type: "submit", id: "s-add" }, "Add"), err, created)];
}

async function teamsSection() {
  const [teams, staff] = await Promise.all([api.get("/api/v1/teams"), api.get("/api/v1/staff?limit=200")]);
  const names = new Map(staff.items.map((s) => [s.id, s.display_name]));
  const name = h("input", { id: "t-name", required: true });
  const team = h("select", { id: "t-team" }, ...teams.map((t) => h("option", { value: t.id }, t.name)));
  const member = h("select", { id: "t-member" }, ...staff.items.map((s) => h("option", { value: s.id }, s.display_name)));
  const err = formError();
  return [h("section", { class: "card" }, h("h2", {}, "Teams"),
    table(["Team", "Members"], teams.map((t) => [t.name, t.members.map((m) => `${names.get(m.staff_id) || m.staff_id}${m.role === "lead" ? " (lead)" : ""}`).join(", ")]))),
  h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    try { await api.post("/api/v1/teams", { name: name.value }); document.getElementById("nav-teams").click(); } catch (e) { err.textContent = e.message; }
  } }, h("h3", {}, "New team"), h("label", { for: "t-name" }, "Name"), name, h("p"), h("button", { type: "submit", id: "t-add" }, "Create"), err),
  h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    try { await api.put(`/api/v1/teams/${team.value}/members/${member.value}`, { role: "member" }); document.getElementById("nav-teams").click(); } catch (e) { err.textContent = e.message; }
  } }, h("h3", {}, "Add a member"), h("label", { for: "t-team" }, "Team"), team, h("label", { for: "t-member" }, "Staff member"), member,
  h("p"), h("button", { type: "submit", id: "t-member-add" }, "Add to team"))];
}

async function accountsSection() {
  const [accounts, teams] = await Promise.all([api.get("/api/v1/accounts?limit=200"), api.get("/api/v1/teams")]);
  const teamNames = new Map(teams.map((t) => [t.id, t.name]));
  const name = h("input", { id: "a-name", required: true });
  const domains = h("input", { id: "a-domains", placeholder: "client.example, client-group.example" });
  const tier = h("input", { id: "a-tier", value: "standard" });
  const team = h("select", { id: "a-team" }, h("option", { value: "" }, "No dedicated team"), ...teams.map((t) => h("option", { value: t.id }, t.name)));
  const err = formError();
  return [h("section", { class: "card" }, h("h2", {}, "Accounts"),
    table(["Account", "Tier", "Domains", "Team"], accounts.items.map((a) => [a.name, a.tier, a.domains.join(", "), teamNames.get(a.team_id) || ""]))),
  h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      await api.post("/api/v1/accounts", {
        name: name.value,
        domains: domains.value.split(",").map((d) => d.trim()).filter(Boolean),
        tier: tier.value || undefined,
        team_id: team.value || undefined,
      });
      document.getElementById("nav-accounts").click();
    } catch (e) { err.textContent = e.message; }
  } }, h("h3", {}, "New account"),
  h("label", { for: "a-name" }, "Name"), name, h("label", { for: "a-domains" }, "Email domains (comma-separated)"), domains,
  h("label", { for: "a-tier" }, "Tier"), tier, h("label", { for: "a-team" }, "Dedicated team"), team,
  h("p"), h("button", { type: "submit", id: "a-add" }, "Create"), err)];
}

async function contactsSection() {
  const accounts = (await api.get("/api/v1/accounts?limit=200")).items;
  const account = h("select", { id: "c-account" }, ...accounts.map((a) => h("option", { value: a.id }, a.name)));
  const list = h("div", { id: "c-list" });
  const load = async () => {
    if (!account.value) return;
    const contacts = (await api.get(`/api/v1/accounts/${account.value}/contacts?limit=200`)).items;
    list.replaceChildren(table(["Name", "Function", "Email", "Portal"], contacts.map((c) => [c.name, c.function, c.emails.join(", "), c.portal_access ? "yes" : "no"])));
  };
  account.addEventListener("change", load);
  const name = h("input", { id: "c-name", required: true });
  const email = h("input", { id: "c-email", type: "email", required: true });
  const fn = h("select", { id: "c-function" }, ...["finance", "operations", "technical", "executive", "other"].map((f) => h("option", { value: f }, f)));
  const err = formError();
  await load();
  return [h("section", { class: "card" }, h("h2", {}, "Contacts"), h("label", { for: "c-account" }, "Account"), account, list),
    h("form", { class: "card", onsubmit: async (ev) => {
      ev.preventDefault();
      try { await api.post(`/api/v1/accounts/${account.value}/contacts`, { name: name.value, emails: [email.value], function: fn.value }); await load(); } catch (e) { err.textContent = e.message; }
    } }, h("h3", {}, "Add a contact to this account"),
    h("label", { for: "c-name" }, "Name"), name, h("label", { for: "c-email" }, "Email"), email, h("label", { for: "c-function" }, "Function"), fn,
    h("p"), h("button", { type: "submit", id: "c-add" }, "Add"), err)];
}

async function slaSection() {
  const p = await api.get("/api/v1/sla/policies");
  const hours = (m) => (m % 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m / 60} h`);
  const days = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"], ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];
  return [h("section", { class: "card", id: "sla-policy" }, h("h2", {}, "Service levels"),
    h("p", { class: "meta" }, "Targets count business time. They are set in the configuration ([sla] in config/default.toml) and apply after a restart."),
    table(["Tier", "First response", "Next response", "Resolution"], Object.entries(p.tiers).map(([tier, t]) =>
      [tier, hours(t.first_response_minutes), hours(t.next_response_minutes), hours(t.resolution_minutes)])),
    h("h3", {}, `Working hours (${p.time_zone})`),
    table(["Day", "Hours"], days.map(([k, label]) => [label, p.hours[k].join(", ") || "closed"])),
    h("p", {}, `Holidays: ${p.holidays.join(", ") || "none"} · warning at ${p.warn_at_percent} % of a target`))];
}

async function tokensSection() {
  const tokens = await api.get("/api/v1/api-tokens");
  const name = h("input", { id: "k-name", required: true });
  const boxes = SCOPES.map((s) => h("label", {}, h("input", { type: "checkbox", value: s, id: `k-${s.replace(":", "-")}` }), s));
  const err = formError();
  const secret = h("p", { role: "status", id: "k-secret" });
  return [h("section", { class: "card" }, h("h2", {}, "API tokens"),
    table(["Name", "Scopes", "Created", "State", ""], tokens.map((t) => [t.name, t.scopes.join(", "), new Date(t.created_at).toLocaleDateString(), t.revoked ? "revoked" : "active",
      t.revoked ? "" : h("button", { type: "button", class: "secondary", onclick: async () => { await api.del(`/api/v1/api-tokens/${t.id}`); document.getElementById("nav-tokens").click(); } }, "Revoke")]))),
  h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    const scopes = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    try {
      const t = await api.post("/api/v1/api-tokens", { name: name.value, scopes });
      secret.textContent = `Token ${t.name} (copy it now, it is shown once): ${t.secret}`;
    } catch (e) { err.textContent = e.message; }
  } }, h("h3", {}, "New token"), h("label", { for: "k-name" }, "Name"), name, h("p", {}, "Scopes"), ...boxes,
  h("p"), h("button", { type: "submit", id: "k-add" }, "Create"), err, secret)];
}

start().catch((e) => show(h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : String(e))));
