// Reports in the console: filters, the figures, a CSV download; and the
// account health block shown on an account's page.

import { h, when } from "./api.js";

const duration = (s) => {
  if (s === null || s === undefined) return "–";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
};
const pct = (v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} %`);

function table(id, head, rows) {
  return h("table", { id }, h("thead", {}, h("tr", {}, ...head.map((x) => h("th", {}, x)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((x) => h("td", {}, x))))));
}

/// The figures of one report.
export function reportFigures(r) {
  const times = [["First response", r.first_response], ["Next response", r.next_response], ["Resolution", r.resolution]];
  const clocks = [["First response", r.sla.first_response], ["Next response", r.sla.next_response], ["Resolution", r.sla.resolution]];
  const s = r.satisfaction;
  const groups = (name, list) => list.length ? [h("h4", {}, `Satisfaction by ${name}`),
    table(`sat-${name}`, [name, "Ratings", "Average", "4–5"], list.map((g) => [g.name, g.count, g.average?.toFixed(2) ?? "–", pct(g.satisfied_percent)]))] : [];
  return h("div", { class: "report" },
    h("h3", {}, "Response and resolution times"),
    table("r-times", ["", "Count", "Median", "90th percentile"], times.map(([n, d]) => [n, d.count, duration(d.median_seconds), duration(d.p90_seconds)])),
    h("h3", {}, "Service levels"),
    table("r-sla", ["Clock", "Met", "Missed", "Running", "Overdue", "Attainment"], clocks.map(([n, c]) => [n, c.met, c.missed, c.running, c.running_breached, pct(c.attainment_percent)])),
    h("h3", {}, "Reopened"),
    h("p", { id: "r-reopen" }, `${r.reopen.reopened} of ${r.reopen.resolved} resolved cases (${pct(r.reopen.rate_percent)})`),
    h("h3", {}, `Backlog: ${r.backlog.total} open`),
    table("r-backlog", ["Status", "Cases"], Object.entries(r.backlog.by_status).map(([k, n]) => [k.replace("_", " "), n])),
    table("r-age", ["Age", "Cases"], Object.entries(r.backlog.by_age).map(([k, n]) => [k.replace("under_", "< ").replace("over_", "> ").replace("_", "–"), n])),
    h("h3", {}, "Satisfaction"),
    h("p", { id: "r-sat" }, s.count ? `${s.count} rating${s.count === 1 ? "" : "s"} of ${s.asked} asked · average ${s.average.toFixed(2)} of 5 · ${pct(s.satisfied_percent)} rated 4 or 5 · ${s.distribution.map((n, i) => `${i + 1}: ${n}`).join(", ")}` : `No ratings yet (${s.asked} asked).`),
    ...groups("agent", s.by_agent), ...groups("team", s.by_team), ...groups("account", s.by_account),
    h("h3", {}, `Volume: ${r.volume.created} cases opened`),
    table("r-channel", ["Channel", "Cases"], Object.entries(r.volume.by_channel)),
    table("r-category", ["Category", "Cases"], Object.entries(r.volume.by_category)),
    r.deflection ? h("p", { id: "r-deflection" }, `Help articles suggested before a case: answered without a case ${r.deflection.deflected || 0}, went on to open one ${r.deflection.continued || 0}, left undecided ${r.deflection.shown || 0}.`) : null);
}

/// The reports page.
export async function reportsPage(api, pane, instance) {
  const [accounts, teams, staff] = await Promise.all([
    api.get("/api/v1/accounts?limit=200").then((p) => p.items).catch(() => []),
    api.get("/api/v1/teams").catch(() => []),
    api.get("/api/v1/staff?limit=200").then((p) => p.items || p).catch(() => []),
  ]);
  const day = (d) => d.toISOString().slice(0, 10);
  const from = h("input", { id: "r-from", type: "date", value: day(new Date(Date.now() - 30 * 86400000)) });
  const to = h("input", { id: "r-to", type: "date", value: day(new Date(Date.now() + 86400000)) });
  const sel = (id, label, items) => h("select", { id, "aria-label": label.replace("All ", "Only these ") }, h("option", { value: "" }, label), ...items.map(([v, l]) => h("option", { value: v }, l)));
  const account = sel("r-account", "All accounts", accounts.map((a) => [a.id, a.name]));
  const tier = sel("r-tier", "All tiers", (instance.tiers || []).map((t) => [t, t]));
  const team = sel("r-team", "All teams", teams.map((t) => [t.id, t.name]));
  const agent = sel("r-agent", "All agents", staff.filter((s) => s.role !== "auditor").map((s) => [s.id, s.display_name]));
  const label = h("input", { id: "r-tag", type: "search", placeholder: "label", "aria-label": "Only cases with this label" });
  const out = h("div", { id: "report" });
  const err = h("p", { class: "error", role: "alert" });
  const params = () => {
    const q = new URLSearchParams({ from: from.value, to: to.value });
    for (const [k, el] of [["account_id", account], ["tier", tier], ["team_id", team], ["agent_id", agent], ["tag", label]]) if (el.value) q.set(k, el.value.trim());
    return q;
  };
  const run = async () => {
    err.textContent = "";
    try { out.replaceChildren(reportFigures(await api.get(`/api/v1/reports?${params()}`))); } catch (e) { err.textContent = e.message; }
  };
  const csv = async () => {
    const q = params();
    q.set("format", "csv");
    await api.save(`/api/v1/reports?${q}`, `rapport-report-${from.value}-${to.value}.csv`).catch((e) => { err.textContent = e.message; });
  };
  pane.replaceChildren(h("h2", {}, "Reports"),
    h("form", { onsubmit: (ev) => { ev.preventDefault(); run(); } },
      h("div", { class: "row" },
        h("div", {}, h("label", { for: "r-from" }, "From"), from),
        h("div", {}, h("label", { for: "r-to" }, "Until (excluded)"), to)),
      h("div", { class: "row" }, account, tier, team, agent, label),
      h("p"), h("div", { class: "row" }, h("button", { type: "submit", id: "r-run" }, "Show"),
        h("button", { type: "button", class: "secondary", id: "r-csv", onclick: csv }, "Download CSV"))),
    err, out);
  run();
}

/// An account's health for its owner, on the account page.
export async function healthBlock(api, accountId) {
  const health = await api.get(`/api/v1/accounts/${accountId}/health`).catch(() => null);
  if (!health) return null;
  const label = { good: "Good", watch: "Watch", at_risk: "At risk" }[health.status];
  const r = health.report;
  return h("section", { class: `health ${health.status}`, id: "health" },
    h("h3", {}, `Health: ${label}`),
    health.reasons.length ? h("ul", {}, ...health.reasons.map((x) => h("li", {}, x))) : h("p", {}, "Nothing needs attention."),
    h("p", { class: "meta" }, `Last 90 days: first response median ${duration(r.first_response.median_seconds)}, resolution median ${duration(r.resolution.median_seconds)}, `,
      `${r.satisfaction.count ? `average rating ${r.satisfaction.average.toFixed(1)}` : "no ratings"}, ${r.backlog.total} open.`),
    h("p", { class: "meta" }, `Client last wrote ${health.last_client_message_at ? when(health.last_client_message_at) : "never"}; team last answered ${health.last_team_reply_at ? when(health.last_team_reply_at) : "never"}.`),
    health.upcoming_appointments.length ? h("p", {}, h("strong", {}, "Coming up: "),
      health.upcoming_appointments.map((a) => `${a.title} (${when(a.booked.start)})`).join("; ")) : null);
}

/// The accounts the signed-in person owns, at risk first.
export async function portfolioPage(api, pane, openAccount) {
  const list = await api.get("/api/v1/reports/health");
  const label = { good: "Good", watch: "Watch", at_risk: "At risk" };
  pane.replaceChildren(h("h2", {}, "My accounts"),
    h("p", { class: "meta" }, "The accounts you own, over the last 90 days: the ones that need you first."),
    list.length ? h("table", { id: "portfolio" },
      h("thead", {}, h("tr", {}, ...["Account", "Health", "Why", "Open", "First response", "Rating", "Client last wrote"].map((x) => h("th", {}, x)))),
      h("tbody", {}, ...list.map((a) => h("tr", { class: `health-row ${a.status}` },
        h("td", {}, h("button", { type: "button", class: "secondary small", "data-account": a.account_id, onclick: () => openAccount(a.account_id) }, a.name)),
        h("td", {}, label[a.status]),
        h("td", {}, a.reasons.join("; ") || "–"),
        h("td", {}, a.open_cases),
        h("td", {}, duration(a.first_response_median_seconds)),
        h("td", {}, a.satisfaction_average === null ? "–" : a.satisfaction_average.toFixed(1)),
        h("td", {}, a.last_client_message_at ? when(a.last_client_message_at) : "never")))))
      : h("p", {}, "You own no accounts yet; admins set an account's owner."));
}
