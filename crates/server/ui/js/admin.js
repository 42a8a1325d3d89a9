// Administration: staff (invited by email), teams and their members,
// accounts with their dedicated team, owner and tier, contacts, the chat
// widget, CSV import and export, service levels and API tokens. Every
// change goes through the same API (and audit log) as any other client.

import { Api, ApiError, staffSignIn, pendingSecondFactor, takeSingleSignOn, h } from "./api.js";

const api = new Api("admin");
const app = document.getElementById("app");
const SCOPES = ["audit:read", "directory:read", "mail:ingest"];
const ROLES = ["agent", "admin", "auditor"];
const LIFECYCLES = ["prospect", "onboarding", "customer", "churned"];
const FUNCTIONS = ["finance", "operations", "technical", "executive", "other"];
const VISIBILITIES = [["own_cases", "Cases they opened or take part in"], ["function_cases", "Those, and all cases in the categories of their function"], ["all_account_cases", "All of their company's cases"]];
const SEES = { own_cases: "own cases", function_cases: "own and their function's", all_account_cases: "all company cases" };
const NOTICES = [["each", "An email for each case opened or resolved"], ["digest", "One email a day"], ["off", "No such emails"]];

function show(...nodes) { app.replaceChildren(...nodes); }

let instance;
let reopen;

async function start() {
  instance = await api.get("/api/v1/instance");
  document.getElementById("desk").textContent = `${instance.name} · administration`;
  const ssoFailure = await takeSingleSignOn(api);
  if (!api.signedIn) return show(staffSignIn(api, "Administrator sign-in", ssoFailure));
  let me;
  try { me = await api.get("/api/v1/me"); } catch { return show(staffSignIn(api, "Administrator sign-in")); }
  const pending = pendingSecondFactor(api, me);
  if (pending) return show(pending);
  // Not an admin: say so, without ending the session the other pages use.
  if (me.role !== "admin") {
    return show(h("section", { class: "card" }, h("h2", {}, "This page is for admins"),
      h("p", {}, `You are signed in as ${me.display_name} (${me.role}).`),
      h("p", {}, h("a", { href: "/console" }, "Go to the console"), " · ",
        h("button", { type: "button", class: "secondary", onclick: async () => { await api.signOut(); location.reload(); } }, "Sign in as someone else"))));
  }
  api.onSessionChange(() => location.reload());
  document.getElementById("who").replaceChildren(
    h("span", {}, `${me.display_name} (admin) `),
    h("button", { type: "button", onclick: async () => { await api.signOut(); location.reload(); } }, "Sign out"));
  const sections = {
    staff: ["Staff", staffSection], teams: ["Teams", teamsSection], accounts: ["Accounts", accountsSection],
    contacts: ["Contacts", contactsSection], routing: ["Categories and skills", routingSection], import: ["Import and export", importSection], widget: ["Chat widget", widgetSection],
    sla: ["Service levels", slaSection], tokens: ["API tokens", tokensSection], webhooks: ["Webhooks", webhooksSection], cards: ["Customer cards", cardsSection],
  };
  const nav = h("nav", { "aria-label": "Sections", class: "row" },
    ...Object.entries(sections).map(([key, [label]]) => h("button", { type: "button", class: "secondary", id: `nav-${key}`, onclick: () => open(key) }, label)));
  const body = h("div", { id: "section" });
  show(nav, h("p"), body);
  let current = "staff";
  // Re-renders the open section, then shows `message` in it.
  reopen = async (message) => {
    await open(current);
    if (message) body.prepend(h("p", { class: "notice", role: "status", id: "section-status" }, message));
  };
  async function open(key) {
    current = key;
    for (const b of nav.querySelectorAll("button")) b.setAttribute("aria-current", b.id === `nav-${key}` ? "true" : "false");
    body.replaceChildren(h("p", {}, "Loading…"));
    // A section still loading when another was chosen must not replace it.
    try {
      const nodes = await sections[key][1]();
      if (current === key) body.replaceChildren(...nodes);
    } catch (e) { if (current === key) body.replaceChildren(h("p", { class: "error", role: "alert" }, e.message)); }
  }
  open("staff");
}

/// A form whose errors show in the form itself.
function form(id, title, fields, submitLabel, onSubmit) {
  const err = h("p", { class: "error", role: "alert", id: `${id}-error` });
  return h("form", { class: "card", id, onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try { await onSubmit(); } catch (e) { err.textContent = e.field ? `${e.field}: ${e.message}` : e.message; }
  } }, title ? h("h3", {}, title) : null, ...fields, h("p"), h("button", { type: "submit", id: `${id}-submit` }, submitLabel), err);
}

function field(id, label, input) { return [h("label", { for: id }, label), input]; }
function select(id, options, value) {
  return h("select", { id }, ...options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}
function checkbox(id, label, checked) {
  return h("label", { for: id }, h("input", { type: "checkbox", id, checked }), label);
}

function table(headers, rows, id) {
  return h("table", { id }, h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))));
}

const until = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

// ---------- staff ----------

async function staffSection() {
  const [list, teams, policies] = await Promise.all([api.get("/api/v1/staff?limit=200"), api.get("/api/v1/teams"),
    api.get("/api/v1/security/second-factor")]);
  const teamsOf = (id) => teams.filter((t) => t.members.some((m) => m.staff_id === id)).map((t) => t.name).join(", ");
  const rows = list.items.map((s) => {
    const role = select(`s-role-${s.id}`, ROLES.map((r) => [r, r]), s.role);
    role.setAttribute("aria-label", `Role of ${s.display_name}`);
    role.addEventListener("change", () => change(s, { role: role.value }, `${s.display_name} is now ${role.value === "admin" ? "an admin" : `an ${role.value}`}.`));
    return [s.display_name, s.email, role, teamsOf(s.id) || "—", s.active ? "active" : "deactivated",
      h("span", {},
        h("button", { type: "button", class: "secondary small", id: `s-active-${s.id}`, onclick: () => change(s, { active: !s.active }, `${s.display_name} is ${s.active ? "deactivated: they are signed out and cannot sign in" : "active again"}.`) }, s.active ? "Deactivate" : "Reactivate"),
        s.active ? h("button", { type: "button", class: "secondary small", id: `s-invite-${s.id}`, onclick: async () => {
          try { const r = await api.post(`/api/v1/staff/${s.id}/invitation`); reopen(`A new invitation went to ${r.invitation_sent_to} (the link works once, until ${until(r.invitation_expires_at)}).`); } catch (e) { reopen(e.message); }
        } }, "Send new invitation") : null,
        h("button", { type: "button", class: "secondary small", id: `s-two-step-off-${s.id}`, onclick: async () => {
          try { await api.del(`/api/v1/staff/${s.id}/totp`); reopen(`Two-step sign-in is off for ${s.display_name}: they sign in with their password and can set it up again.`); } catch (e) { reopen(e.message); }
        } }, "Turn off two-step sign-in"))];
  });
  const email = h("input", { id: "s-email", type: "email", required: true, autocomplete: "off" });
  const name = h("input", { id: "s-name", required: true, autocomplete: "off" });
  const role = select("s-role", ROLES.map((r) => [r, r]), "agent");
  return [h("section", { class: "card" }, h("h2", {}, "Staff"),
    h("p", { class: "meta" }, "Change a role in its list; deactivating signs the person out at once. \"Send new invitation\" mails a fresh link to choose a password (for an expired invitation or a forgotten password). \"Turn off two-step sign-in\" helps someone who lost their phone and recovery codes."),
    table(["Name", "Email", "Role", "Teams", "Status", ""], rows, "staff-list")),
  h("section", { class: "card", id: "s-second-factor" }, h("h3", {}, "Two-step sign-in by role"),
    h("p", { class: "meta" }, "Everyone of a ticked role signs in with a code from an authenticator app besides the password; until they set one up, they can do nothing else."),
    ...policies.map((p) => {
      const box = checkbox(`s-totp-${p.role}`, ` ${p.role}s${p.by_config ? " (required by the server's configuration)" : ""}`, p.required);
      const input = box.querySelector("input");
      if (p.by_config) input.disabled = true;
      input.addEventListener("change", async () => {
        try {
          await api.put(`/api/v1/security/second-factor/${p.role}`, { required: input.checked });
          await reopen(input.checked ? `Every ${p.role} now signs in with a second factor.` : `${p.role[0].toUpperCase()}${p.role.slice(1)}s may sign in with the password alone.`);
        } catch (e) { await reopen(e.message); }
      });
      return h("p", {}, box);
    })),
  form("s-form", "Invite a staff member", [...field("s-email", "Email", email), ...field("s-name", "Name", name), ...field("s-role", "Role", role)], "Send invitation", async () => {
    const r = await api.post("/api/v1/staff", { email: email.value, name: name.value, role: role.value });
    reopen(`Invitation sent to ${r.invitation_sent_to}: they choose their password with the link (it works once, until ${until(r.invitation_expires_at)}).`);
  })];
}

async function change(s, patch, done) {
  try { await api.patch(`/api/v1/staff/${s.id}`, patch); await reopen(done); } catch (e) { await reopen(e.message); }
}

// ---------- categories and skills ----------

async function routingSection() {
  const [categories, staff, skills] = await Promise.all([api.get("/api/v1/case-categories"),
    api.get("/api/v1/staff?limit=200"), api.get("/api/v1/skills")]);
  const nameOf = (id) => staff.items.find((s) => s.id === id)?.display_name || id;
  const rows = categories.map((c) => {
    const boxes = FUNCTIONS.map((f) => checkbox(`r-${c.name}-${f}`, ` ${f}`, c.functions.includes(f)));
    const skill = h("input", { id: `r-${c.name}-skill`, value: c.skill || "", placeholder: "e.g. billing", size: 12 });
    skill.setAttribute("aria-label", `Skill that answers ${c.name}`);
    const save = h("button", { type: "button", class: "secondary small", id: `r-${c.name}-save`, onclick: async () => {
      const functions = FUNCTIONS.filter((_, i) => boxes[i].querySelector("input").checked);
      try {
        const saved = await api.put(`/api/v1/case-categories/${encodeURIComponent(c.name)}`, { functions, skill: skill.value.trim() || null });
        await reopen(`${c.name}: concerns ${saved.functions.join(", ") || "no function"}; ${saved.skill ? `answered by the ${saved.skill} skill` : "no skill needed"}.`);
      } catch (e) { await reopen(`${c.name}: ${e.message}`); }
    } }, "Save");
    const who = c.skill ? (c.skilled_staff_ids.map(nameOf).join(", ") || "nobody yet: any team member takes it") : "—";
    return [c.name, h("span", { role: "group", "aria-label": `Functions ${c.name} concerns` }, ...boxes), skill, who, save];
  });
  const staffRows = staff.items.filter((s) => s.active && s.role !== "auditor").map((s) => {
    const mine = skills.find((k) => k.staff_id === s.id)?.skills || [];
    const input = h("input", { id: `k-${s.id}`, value: mine.join(", "), placeholder: "billing, technical" });
    input.setAttribute("aria-label", `Skills of ${s.display_name}`);
    return [s.display_name, input, h("button", { type: "button", class: "secondary small", id: `k-save-${s.id}`, onclick: async () => {
      try {
        const saved = await api.put(`/api/v1/staff/${s.id}/skills`, { skills: input.value.split(",").map((x) => x.trim()).filter(Boolean) });
        await reopen(`${s.display_name}: ${saved.skills.length ? `skills ${saved.skills.join(", ")}` : "no skills"}.`);
      } catch (e) { await reopen(`${s.display_name}: ${e.message}`); }
    } }, "Save")];
  });
  return [h("section", { class: "card" }, h("h2", {}, "Categories"),
    h("p", { class: "meta" }, "A category concerns the client's people of the ticked functions: contacts who see \"their function's cases\" see its cases and hear when one opens or is resolved. Its cases go to a member of the account's team with the skill (then to who knows the account, then to who has the fewest open cases); when nobody in the team has it, any member takes the case."),
    table(["Category", "Concerns", "Skill", "Who has the skill", ""], rows, "categories-list")),
  h("section", { class: "card" }, h("h2", {}, "Skills of staff"),
    h("p", { class: "meta" }, "Comma-separated, such as billing, technical. Save each person's line."),
    table(["Name", "Skills", ""], staffRows, "skills-list"))];
}

// ---------- teams ----------

async function teamsSection() {
  const [teams, staff] = await Promise.all([api.get("/api/v1/teams"), api.get("/api/v1/staff?limit=200")]);
  const names = new Map(staff.items.map((s) => [s.id, s.display_name]));
  const cards = teams.map((t) => {
    const rename = h("input", { id: `t-rename-${t.id}`, value: t.name, required: true });
    const members = t.members.map((m) => {
      const role = select(`t-role-${t.id}-${m.staff_id}`, [["member", "member"], ["lead", "lead"]], m.role);
      role.setAttribute("aria-label", `Role of ${names.get(m.staff_id)} in ${t.name}`);
      role.addEventListener("change", async () => {
        try { await api.put(`/api/v1/teams/${t.id}/members/${m.staff_id}`, { role: role.value }); reopen(`${names.get(m.staff_id)} is now ${role.value} of ${t.name}.`); } catch (e) { reopen(e.message); }
      });
      return [names.get(m.staff_id) || m.staff_id, role, h("button", { type: "button", class: "secondary small", id: `t-remove-${t.id}-${m.staff_id}`, onclick: async () => {
        try { await api.del(`/api/v1/teams/${t.id}/members/${m.staff_id}`); reopen(`${names.get(m.staff_id)} left ${t.name}.`); } catch (e) { reopen(e.message); }
      } }, "Remove")];
    });
    const candidates = staff.items.filter((s) => s.active && s.role !== "auditor" && !t.members.some((m) => m.staff_id === s.id));
    const member = select(`t-member-${t.id}`, candidates.map((s) => [s.id, s.display_name]));
    return h("section", { class: "card team", "data-team": t.name },
      h("h2", {}, t.name),
      t.members.length ? table(["Member", "Role", ""], members, `t-members-${t.id}`) : h("p", { class: "meta" }, "No members yet."),
      candidates.length ? form(`t-add-${t.id}`, null, field(`t-member-${t.id}`, "Add a member", member), "Add to team", async () => {
        await api.put(`/api/v1/teams/${t.id}/members/${member.value}`, { role: "member" });
        reopen(`${names.get(member.value)} joined ${t.name}.`);
      }) : null,
      form(`t-rename-form-${t.id}`, null, field(`t-rename-${t.id}`, "Team name", rename), "Rename", async () => {
        await api.patch(`/api/v1/teams/${t.id}`, { name: rename.value });
        reopen(`Renamed to ${rename.value}.`);
      }));
  });
  const name = h("input", { id: "t-name", required: true });
  return [...cards, form("t-form", "New team", field("t-name", "Name", name), "Create", async () => {
    await api.post("/api/v1/teams", { name: name.value });
    reopen(`Team ${name.value} created; add its members above.`);
  })];
}

// ---------- accounts ----------

async function accountsSection() {
  const [accounts, teams, staff, policies] = await Promise.all([api.get("/api/v1/accounts?limit=200"), api.get("/api/v1/teams"),
    api.get("/api/v1/staff?limit=200"), api.get("/api/v1/sla/policies")]);
  const teamNames = new Map(teams.map((t) => [t.id, t.name]));
  const owners = staff.items.filter((s) => s.active && s.role !== "auditor");
  const ownerNames = new Map(staff.items.map((s) => [s.id, s.display_name]));
  const hours = (m) => (m % 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m / 60} h`);
  const tierLabel = (t) => { const p = policies.tiers[t]; return p ? `${t} (first response ${hours(p.first_response_minutes)})` : t; };
  const editor = h("div", { id: "a-editor" });
  const fields = (prefix, a) => {
    const inputs = {
      name: h("input", { id: `${prefix}-name`, value: a?.name || "", required: true }),
      domains: h("input", { id: `${prefix}-domains`, value: (a?.domains || []).join(", "), placeholder: "client.example, client-group.example" }),
      tier: select(`${prefix}-tier`, instance.tiers.map((t) => [t, tierLabel(t)]), a?.tier || instance.default_tier),
      lifecycle: select(`${prefix}-lifecycle`, LIFECYCLES.map((l) => [l, l]), a?.lifecycle || "customer"),
      parent: select(`${prefix}-parent`, [["", "None: not part of a group"], ...accounts.items.filter((o) => o.id !== a?.id).map((o) => [o.id, o.name])], a?.parent_id || ""),
      team: select(`${prefix}-team`, [["", "No dedicated team"], ["inherit", "The parent company's team"], ...teams.map((t) => [t.id, t.name])], a?.team_inherited ? "inherit" : (a?.team_id || "")),
      owner: select(`${prefix}-owner`, [["", "No owner"], ...owners.map((s) => [s.id, s.display_name])], a?.owner_id || ""),
      notes: h("textarea", { id: `${prefix}-notes` }, a?.notes || ""),
      external: h("input", { id: `${prefix}-external`, value: a?.external_id || "", placeholder: "CRM-4711" }),
    };
    const nodes = [...field(`${prefix}-name`, "Name", inputs.name), ...field(`${prefix}-domains`, "Email domains (comma-separated; mail from them reaches this account)", inputs.domains),
      ...field(`${prefix}-tier`, "Tier (decides the service levels)", inputs.tier), ...field(`${prefix}-lifecycle`, "Lifecycle", inputs.lifecycle),
      ...field(`${prefix}-parent`, "Part of the group of (parent company: its contacts who see more than their own cases see this account's too; reports of the parent include it)", inputs.parent),
      ...field(`${prefix}-team`, "Dedicated team", inputs.team), ...field(`${prefix}-owner`, "Account owner", inputs.owner), ...field(`${prefix}-notes`, "Notes (staff only)", inputs.notes),
      ...field(`${prefix}-external`, "Id in your CRM or ERP (for matching, optional)", inputs.external)];
    const body = () => ({
      name: inputs.name.value,
      domains: inputs.domains.value.split(",").map((d) => d.trim()).filter(Boolean),
      tier: inputs.tier.value, lifecycle: inputs.lifecycle.value,
      parent_id: inputs.parent.value || null,
      ...(inputs.team.value === "inherit" ? { inherit_team: true } : { team_id: inputs.team.value || null }),
      owner_id: inputs.owner.value || null, notes: inputs.notes.value,
      external_id: inputs.external.value.trim() || null,
    });
    return { nodes, body };
  };
  const edit = (a) => {
    const f = fields("e", a);
    editor.replaceChildren(form("a-edit", `Edit ${a.name}`, f.nodes, "Save changes", async () => {
      await api.patch(`/api/v1/accounts/${a.id}`, f.body());
      reopen(`${f.body().name} saved.`);
    }));
    companySignIn(a).then((section) => editor.append(section));
    editor.querySelector("input").focus();
  };
  const created = fields("a");
  return [h("section", { class: "card" }, h("h2", {}, "Accounts"),
    table(["Account", "Group", "Tier", "Lifecycle", "Domains", "Team", "Owner", ""], accounts.items.map((a) => [a.name,
      accounts.items.find((o) => o.id === a.parent_id)?.name || "—", a.tier, a.lifecycle, a.domains.join(", "),
      `${teamNames.get(a.team_id) || "—"}${a.team_inherited ? " (the group's)" : ""}`, ownerNames.get(a.owner_id) || "—",
      h("button", { type: "button", class: "secondary small", id: `a-edit-${a.id}`, "aria-label": `Edit ${a.name}`, onclick: () => edit(a) }, "Edit")]), "accounts-list")),
  editor,
  form("a-form", "New account", created.nodes, "Create", async () => {
    const b = created.body();
    for (const k of ["team_id", "owner_id", "parent_id"]) if (!b[k]) delete b[k];
    await api.post("/api/v1/accounts", b);
    reopen(`${b.name} created.`);
  })];
}

// The account's own identity provider: its contacts sign in to the portal
// with their company account.
async function companySignIn(a) {
  const current = await api.get(`/api/v1/accounts/${a.id}/sso`).catch((e) => { if (e.status === 404) return null; throw e; });
  const inputs = {
    issuer: h("input", { id: "sso-issuer", type: "url", value: current?.issuer || "", required: true, placeholder: "https://login.client.example" }),
    client: h("input", { id: "sso-client", value: current?.client_id || "", required: true }),
    secret: h("input", { id: "sso-secret", type: "password", autocomplete: "off", required: !current, placeholder: current ? "unchanged" : "" }),
    label: h("input", { id: "sso-label", value: current?.label || `${a.name} sign-in`, required: true }),
    required: checkbox("sso-required", "Contacts of this account sign in only this way (no password, no email link)", current?.required || false),
  };
  const callback = `${instance.public_url}/auth/sso/callback`;
  const nodes = [
    h("p", { class: "meta" }, "The client's IT registers Rapport at their OpenID Connect provider (Entra ID, Okta, Google, Keycloak…) as a web application with the redirect URI ",
      h("code", { id: "sso-callback" }, callback), ", and gives you the issuer URL, client id and secret. Contacts at the account's email domains then see a button for it in the portal."),
    ...field("sso-issuer", "Issuer URL", inputs.issuer), ...field("sso-client", "Client id", inputs.client),
    ...field("sso-secret", current ? "Client secret (leave empty to keep it)" : "Client secret", inputs.secret),
    ...field("sso-label", "Button label (Sign in with …)", inputs.label), inputs.required,
  ];
  const section = form("sso-form", current ? `Company sign-in for ${a.name}: on` : `Company sign-in for ${a.name}`, nodes, "Save company sign-in", async () => {
    const body = { issuer: inputs.issuer.value.trim(), client_id: inputs.client.value.trim(), label: inputs.label.value.trim(),
      required: inputs.required.querySelector("input").checked };
    if (inputs.secret.value) body.client_secret = inputs.secret.value;
    await api.put(`/api/v1/accounts/${a.id}/sso`, body);
    reopen(`Company sign-in for ${a.name} saved.`);
  });
  if (current) {
    section.append(h("button", { type: "button", class: "secondary", id: "sso-remove", onclick: async () => {
      await api.del(`/api/v1/accounts/${a.id}/sso`);
      reopen(`Company sign-in for ${a.name} removed.`);
    } }, "Remove company sign-in"));
  }
  return section;
}

// ---------- contacts ----------

let contactsAccount = "";

async function contactsSection() {
  const accounts = (await api.get("/api/v1/accounts?limit=200")).items;
  if (!accounts.length) return [h("section", { class: "card" }, h("h2", {}, "Contacts"), h("p", {}, "Create an account first: contacts belong to one."))];
  if (!accounts.some((a) => a.id === contactsAccount)) contactsAccount = accounts[0].id;
  const account = select("c-account", accounts.map((a) => [a.id, a.name]), contactsAccount);
  account.addEventListener("change", () => { contactsAccount = account.value; reopen(); });
  const contacts = (await api.get(`/api/v1/accounts/${contactsAccount}/contacts?limit=200`)).items;
  const editor = h("div", { id: "c-editor" });
  const fields = (prefix, c) => {
    const inputs = {
      name: h("input", { id: `${prefix}-name`, value: c?.name || "", required: true }),
      emails: h("input", { id: `${prefix}-email`, value: (c?.emails || []).join(", "), required: true, placeholder: "name@client.example" }),
      fn: select(`${prefix}-function`, FUNCTIONS.map((f) => [f, f]), c?.function || "other"),
      title: h("input", { id: `${prefix}-title`, value: c?.title || "" }),
      phone: h("input", { id: `${prefix}-phone`, value: c?.phone || "" }),
      visibility: select(`${prefix}-visibility`, VISIBILITIES, c?.visibility || "own_cases"),
      notices: select(`${prefix}-notices`, NOTICES, c?.case_notices || "each"),
      portal: checkbox(`${prefix}-portal`, "May sign in to the portal and chat", c ? c.portal_access : true),
      active: checkbox(`${prefix}-active`, "Active (deactivated contacts cannot sign in and get no mail)", c ? c.active : true),
      external: h("input", { id: `${prefix}-external`, value: c?.external_id || "", placeholder: "CRM contact id" }),
    };
    const nodes = [...field(`${prefix}-name`, "Name", inputs.name), ...field(`${prefix}-email`, "Email addresses (comma-separated; the first is the main one)", inputs.emails),
      ...field(`${prefix}-function`, "Function at the client", inputs.fn), ...field(`${prefix}-title`, "Job title", inputs.title),
      ...field(`${prefix}-phone`, "Phone", inputs.phone), ...field(`${prefix}-visibility`, "Sees in the portal", inputs.visibility),
      ...field(`${prefix}-notices`, "Hears of cases opened and resolved in their function's categories", inputs.notices), inputs.portal, inputs.active,
      ...field(`${prefix}-external`, "Id in your CRM (for matching, optional)", inputs.external)];
    const body = () => ({
      name: inputs.name.value, emails: inputs.emails.value.split(",").map((e) => e.trim()).filter(Boolean), function: inputs.fn.value,
      title: inputs.title.value || null, phone: inputs.phone.value || null, visibility: inputs.visibility.value, case_notices: inputs.notices.value,
      portal_access: inputs.portal.querySelector("input").checked, active: inputs.active.querySelector("input").checked,
      external_id: inputs.external.value.trim() || null,
    });
    return { nodes, body };
  };
  const edit = (c) => {
    const f = fields("ce", c);
    editor.replaceChildren(form("c-edit", `Edit ${c.name}`, f.nodes, "Save changes", async () => {
      await api.patch(`/api/v1/contacts/${c.id}`, f.body());
      reopen(`${f.body().name} saved.`);
    }));
    editor.querySelector("input").focus();
  };
  const created = fields("c");
  return [h("section", { class: "card" }, h("h2", {}, "Contacts"), ...field("c-account", "Account", account),
    h("div", { id: "c-list" }, contacts.length
      ? table(["Name", "Function", "Email", "Sees", "Portal", "Status", ""], contacts.map((c) => [c.name, c.function, c.emails.join(", "),
        SEES[c.visibility] || c.visibility, c.portal_access ? "yes" : "no", c.active ? "active" : "deactivated",
        h("button", { type: "button", class: "secondary small", id: `c-edit-${c.id}`, "aria-label": `Edit ${c.name}`, onclick: () => edit(c) }, "Edit")]), "contacts-list")
      : h("p", { class: "meta" }, "No contacts yet."))),
  editor,
  form("c-form", "Add a contact to this account", created.nodes, "Add", async () => {
    const b = created.body();
    for (const k of ["title", "phone"]) if (!b[k]) delete b[k];
    await api.post(`/api/v1/accounts/${contactsAccount}/contacts`, b);
    reopen(`${b.name} added.`);
  })];
}

// ---------- import and export ----------

function importSection() {
  const kind = select("i-kind", [["accounts", "Accounts"], ["contacts", "Contacts"]], "accounts");
  const file = h("input", { id: "i-file", type: "file", accept: ".csv,text/csv", required: true });
  const report = h("div", { id: "i-report", "aria-live": "polite" });
  const send = async (dryRun) => {
    const text = await file.files[0].text();
    const res = await fetch(`/api/v1/directory/import?kind=${kind.value}&dry_run=${dryRun}`, {
      method: "POST", headers: { "Content-Type": "text/csv", Authorization: `Bearer ${api.tokens.access_token}` }, body: text,
    });
    const data = await res.json();
    if (!res.ok) throw new ApiError(data.detail || res.statusText, data.code, res.status, data.field);
    return data;
  };
  const describe = (row) => {
    if (row.action === "invalid") return `${row.field ? `${row.field}: ` : ""}${row.error}`;
    const c = row.changes;
    if (!c) return "";
    if (!c.before) return Object.entries(c.after).filter(([, v]) => v !== null && v !== "" && !(Array.isArray(v) && !v.length) && !(typeof v === "object" && !Array.isArray(v) && !Object.keys(v).length)).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : v}`).join("; ");
    return Object.keys(c.after).map((k) => `${k}: ${JSON.stringify(c.before[k])} → ${JSON.stringify(c.after[k])}`).join("; ");
  };
  const render = (r) => {
    const apply = h("button", { type: "button", id: "i-apply", disabled: r.invalid > 0 || r.applied || (r.created + r.updated === 0), onclick: async () => {
      try { render(await send(false)); } catch (e) { report.prepend(h("p", { class: "error", role: "alert" }, e.message)); }
    } }, `Apply ${r.created} new and ${r.updated} changed`);
    report.replaceChildren(h("section", { class: "card" },
      h("h3", {}, r.applied ? "Imported" : "What this file would do"),
      h("p", { role: "status", id: "i-summary" }, r.applied
        ? `Saved: ${r.created} created, ${r.updated} changed, ${r.unchanged} unchanged.`
        : `${r.created} to create, ${r.updated} to change, ${r.unchanged} unchanged, ${r.invalid} with errors.${r.invalid ? " Fix them and check the file again: nothing is saved while a row has an error." : " Nothing is saved until you apply."}`),
      table(["Line", "Record", "Action", "Details"], r.rows.map((row) => [String(row.line), row.key, row.action, describe(row)]), "i-rows"),
      r.applied ? null : apply));
  };
  return [h("section", { class: "card" }, h("h2", {}, "Export"),
    h("p", {}, "The files use the columns the import reads, so a download edited in a spreadsheet can come back."),
    h("div", { class: "row" },
      h("button", { type: "button", class: "secondary", id: "x-accounts", onclick: () => api.save("/api/v1/directory/accounts.csv", "accounts.csv") }, "Download accounts (CSV)"),
      h("button", { type: "button", class: "secondary", id: "x-contacts", onclick: () => api.save("/api/v1/directory/contacts.csv", "contacts.csv") }, "Download contacts (CSV)"))),
  form("i-form", "Import", [
    h("p", { class: "meta" }, "Accounts: id, name, domains, tier, lifecycle, team, owner, notes, parent (the parent company's name; put parents first). Contacts: id, account, name, emails, function, title, phone, visibility, portal_access, active, case_notices. Only the columns in the file are set; rows find existing records by id, else accounts by name and contacts by their first address."),
    ...field("i-kind", "The file holds", kind), ...field("i-file", "CSV file (UTF-8, first row the column names)", file)],
  "Check the file", async () => { render(await send(true)); }),
  report];
}

// ---------- chat widget ----------

function widgetSection() {
  const origin = location.origin;
  const snippet = `<script src="${origin}/widget.js" async></script>`;
  const code = h("pre", { id: "w-snippet", tabindex: "0" }, snippet);
  const copied = h("span", { role: "status" });
  return [h("section", { class: "card" }, h("h2", {}, "Chat widget"),
    h("p", {}, "Paste this line into the pages of a client-facing site, just before </body>. A chat button appears; contacts sign in with a code mailed to them."),
    code,
    h("p", {}, h("button", { type: "button", class: "secondary", id: "w-copy", onclick: async () => {
      try { await navigator.clipboard.writeText(snippet); copied.textContent = " Copied."; } catch { copied.textContent = " Select the line and copy it."; }
    } }, "Copy"), copied),
    h("h3", {}, "Sites allowed to show it"),
    instance.widget_origins.length
      ? h("ul", { id: "w-origins" }, ...instance.widget_origins.map((o) => h("li", {}, o)))
      : h("p", { id: "w-origins", class: "notice" }, `Only ${origin} itself may show the widget now.`),
    h("p", { class: "meta" }, "Other sites are added in the configuration: server.widget_origins = [\"https://www.client.example\"] in the config file, or RAPPORT_SERVER__WIDGET_ORIGINS=https://www.client.example,https://shop.client.example in the environment; restart to apply. A site not listed shows no chat."))];
}

// ---------- service levels ----------

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

// ---------- API tokens ----------

async function tokensSection() {
  const tokens = await api.get("/api/v1/api-tokens");
  const name = h("input", { id: "k-name", required: true });
  const boxes = SCOPES.map((s) => h("label", {}, h("input", { type: "checkbox", value: s, id: `k-${s.replace(":", "-")}` }), s));
  const secret = h("p", { role: "status", id: "k-secret" });
  return [h("section", { class: "card" }, h("h2", {}, "API tokens"),
    table(["Name", "Scopes", "Created", "State", ""], tokens.map((t) => [t.name, t.scopes.join(", "), new Date(t.created_at).toLocaleDateString(), t.revoked ? "revoked" : "active",
      t.revoked ? "" : h("button", { type: "button", class: "secondary small", onclick: async () => { await api.del(`/api/v1/api-tokens/${t.id}`); reopen(`${t.name} revoked.`); } }, "Revoke")]))),
  form("k-form", "New token", [...field("k-name", "Name", name), h("p", {}, "Scopes: directory:read reads accounts, contacts and staff; audit:read exports the audit log; mail:ingest delivers inbound mail. No token reads conversations."), ...boxes, secret], "Create", async () => {
    const scopes = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    const t = await api.post("/api/v1/api-tokens", { name: name.value, scopes });
    secret.textContent = `Token ${t.name} (copy it now, it is shown once): ${t.secret}`;
  })];
}

// ---------- webhooks ----------

const WEBHOOK_EVENTS = [
  ["case.opened", "A case is opened"],
  ["entry.added", "A message, email or event is added to a case"],
  ["case.status_changed", "A case's status changes"],
  ["case.assignee_changed", "A case is assigned to someone else"],
  ["case.priority_changed", "A case's priority changes"],
  ["satisfaction.received", "A client rates a resolved case"],
  ["sla.breached", "A service-level target is missed"],
  ["account.created", "A client account is added"],
  ["account.updated", "A client account's details change"],
  ["contact.created", "A contact is added to an account"],
  ["contact.updated", "A contact's details change"],
];

async function webhooksSection() {
  const endpoints = await api.get("/api/v1/webhooks");
  const log = h("div", { id: "w-log" });
  // The log refreshes itself while a delivery is under way, so its outcome
  // shows without a reload. Not for a disabled endpoint (its deliveries
  // wait for it), nor a retry hours away; the window is wider than an
  // attempt's 60 s lease, so a browser clock a little behind still polls.
  // At most 5 minutes of polling per opening, and none in a hidden tab.
  let shown = null;
  let poll = null;
  const showLog = async (e, rounds = 150) => {
    shown = e.id;
    clearTimeout(poll);
    const deliveries = await api.get(`/api/v1/webhooks/${e.id}/deliveries?limit=50`);
    if (shown !== e.id) return;
    const soon = Date.now() + 300_000;
    const inFlight = !e.disabled_at && deliveries.some((d) => d.status === "pending" && (!d.next_attempt_at || Date.parse(d.next_attempt_at) <= soon));
    if (inFlight && rounds > 0) {
      const again = () => {
        if (!log.isConnected || shown !== e.id) return;
        if (document.hidden) { poll = setTimeout(again, 2_000); return; }
        showLog(e, rounds - 1).catch(() => {});
      };
      poll = setTimeout(again, 2_000);
    }
    log.replaceChildren(h("section", { class: "card" }, h("h3", {}, `Deliveries to ${e.url}`),
      deliveries.length === 0 ? h("p", {}, "Nothing was sent yet: events after the endpoint was added appear here.") :
        table(["Event", "Created", "Status", "Attempts", "Last answer", ""], deliveries.map((d) => [
          d.event_type, until(d.created_at),
          d.status === "pending" && d.next_attempt_at ? `waiting (next try ${until(d.next_attempt_at)})` : d.status,
          String(d.attempts),
          d.last_status ? `${d.last_status}: ${d.last_response || ""}` : (d.last_response || "—"),
          h("button", { type: "button", class: "secondary small", id: `w-again-${d.id}`, onclick: async () => {
            try { await api.post(`/api/v1/webhooks/${e.id}/deliveries/${d.id}/redeliver`); await showLog(e); } catch (err) { reopen(err.message); }
          } }, "Send again"),
        ]), "w-deliveries")));
  };
  const rows = endpoints.map((e) => [e.url, e.events.join(", ") + (e.include_notes ? " (with internal notes)" : ""),
    e.disabled_at ? `disabled: ${e.disabled_reason}` : "active",
    h("span", {},
      h("button", { type: "button", class: "secondary small", id: `w-log-${e.id}`, onclick: () => showLog(e) }, "Deliveries"),
      e.disabled_at ? h("button", { type: "button", class: "secondary small", id: `w-enable-${e.id}`, onclick: async () => {
        try { await api.post(`/api/v1/webhooks/${e.id}/enable`); reopen(`${e.url} is enabled again; the events that waited are sent now.`); } catch (err) { reopen(err.message); }
      } }, "Enable") : null,
      h("button", { type: "button", class: "secondary small", id: `w-remove-${e.id}`, onclick: async () => {
        try { await api.del(`/api/v1/webhooks/${e.id}`); reopen(`${e.url} no longer receives events.`); } catch (err) { reopen(err.message); }
      } }, "Remove"))]);
  const url = h("input", { id: "w-url", type: "url", required: true, placeholder: "https://" });
  const boxes = WEBHOOK_EVENTS.map(([v, label]) => h("label", { for: `w-event-${v.replace(".", "-")}` },
    h("input", { type: "checkbox", id: `w-event-${v.replace(".", "-")}`, value: v }), ` ${label} (${v})`));
  const notes = checkbox("w-notes", " Include internal notes in \"message added\"", false);
  return [h("section", { class: "card" }, h("h2", {}, "Webhooks"),
    h("p", { class: "meta" }, "Your other systems (ERP, CRM, chat) hear of events as they happen: each event is POSTed as JSON, signed with the endpoint's secret (Standard Webhooks), and tried again for more than a day while the receiver fails."),
    endpoints.length === 0 ? h("p", {}, "No endpoint yet.") : table(["URL", "Events", "State", ""], rows, "w-list")),
  log,
  form("w-form", "Add an endpoint", [...field("w-url", "URL that receives the events", url), h("p", {}, "Events to send:"), ...boxes, notes], "Add endpoint", async () => {
    const events = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    const r = await api.post("/api/v1/webhooks", { url: url.value, events, include_notes: notes.querySelector("input").checked });
    await reopen(`${r.url} receives ${r.events.join(", ")}.`);
    document.getElementById("section-status")?.after(h("p", { class: "notice", role: "status", id: "w-secret-shown" },
      "Signing secret (copy it now, it is shown once): ", h("code", { id: "w-secret-value" }, r.secret)));
  })];
}

// ---------- customer cards ----------

async function cardsSection() {
  const sources = await api.get("/api/v1/customer-cards");
  const name = h("input", { id: "cc-name", required: true, placeholder: "ERP" });
  const url = h("input", { id: "cc-url", type: "url", required: true, placeholder: "https://" });
  const rows = sources.map((s) => [s.name, s.url, until(s.created_at),
    h("button", { type: "button", class: "secondary small", id: `cc-remove-${s.id}`, onclick: async () => {
      try { await api.del(`/api/v1/customer-cards/${s.id}`); reopen(`${s.name} is no longer asked.`); } catch (err) { reopen(err.message); }
    } }, "Remove")]);
  return [h("section", { class: "card" }, h("h2", {}, "Customer cards"),
    h("p", { class: "meta" }, "When an agent opens a case, Rapport asks each of your systems (CRM, ERP, billing) what it knows of the case's account and contact, and shows the answer beside the case. Each request is a signed POST (Standard Webhooks) of the account and contact with their external ids; the system answers with JSON: a title, rows of label and value, and links. Answers are reused for five minutes; a system that does not answer within three seconds is shown as such."),
    sources.length === 0 ? h("p", {}, "No system is asked yet.") : table(["Name", "URL", "Added", ""], rows, "cc-list")),
  form("cc-form", "Ask a system", [...field("cc-name", "Name (the card's title when the system gives none)", name), ...field("cc-url", "URL Rapport asks", url)], "Add system", async () => {
    const r = await api.post("/api/v1/customer-cards", { name: name.value, url: url.value });
    await reopen(`${r.name} is asked when a case opens.`);
    document.getElementById("section-status")?.after(h("p", { class: "notice", role: "status", id: "cc-secret-shown" },
      "Signing secret (copy it now, it is shown once): ", h("code", { id: "cc-secret-value" }, r.secret)));
  })];
}

start().catch((e) => show(h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : String(e))));
