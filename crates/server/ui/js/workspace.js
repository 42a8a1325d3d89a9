// The agent's case list: one of the saved views, dense, sortable by any
// column, with unread markers, keyboard movement and actions on many
// cases at once.

import { h, when } from "./api.js";

export const STATUS_NAMES = {
  new: "New", open: "Open", pending_client: "Waiting on client", pending_internal: "Waiting internally", resolved: "Resolved", closed: "Closed",
};
const PRIORITY_RANK = { urgent: 0, high: 1, normal: 2, low: 3 };

/// "due in 2 h 05 min", "overdue by 12 min", or "" without a running target.
export function countdown(c) {
  if (!c.sla_due_at) return "";
  const minutes = Math.round((new Date(c.sla_due_at) - Date.now()) / 60000);
  const span = (m) => (Math.abs(m) >= 60 ? `${Math.floor(Math.abs(m) / 60)} h ${String(Math.abs(m) % 60).padStart(2, "0")} min` : `${Math.abs(m)} min`);
  return c.sla_breached || minutes < 0 ? `SLA overdue by ${span(minutes)}` : `SLA due in ${span(minutes)}`;
}

/// What this agent has seen of each case: the last activity they saw.
export class Seen {
  constructor(me) { this.key = `rapport.seen.${me.id}`; }
  all() { return JSON.parse(localStorage.getItem(this.key) || "{}"); }
  mark(c) {
    const all = this.all();
    all[c.id] = c.last_activity_at;
    localStorage.setItem(this.key, JSON.stringify(all));
  }
  unread(c) {
    const at = this.all()[c.id];
    return !at || new Date(c.last_activity_at) > new Date(at);
  }
}

const COLUMNS = [
  ["case", "Case", (c) => c.number],
  ["account", "Account", (c) => (c.account_name || "").toLowerCase()],
  ["contact", "Contact", (c) => (c.opened_by_name || "").toLowerCase()],
  ["channel", "Channel", (c) => c.channel],
  ["status", "Status", (c) => c.status],
  ["priority", "Priority", (c) => PRIORITY_RANK[c.priority]],
  ["assignee", "Assignee", (c, names) => (names.get(c.assignee_id) || "~").toLowerCase()],
  ["sla", "SLA due", (c) => (c.sla_due_at ? new Date(c.sla_due_at).getTime() : Number.MAX_SAFE_INTEGER)],
  ["activity", "Last activity", (c) => -new Date(c.last_activity_at).getTime()],
];

export class Workspace {
  /// `ctx`: { api, me, staff, navigate, seen, refreshCounts }.
  constructor(ctx) {
    this.ctx = ctx;
    this.view = "mine";
    this.sort = ["activity", 1];
    this.selected = new Set();
    this.cursor = 0;
    this.items = [];
    this.filters = { tag: "", account: "" };
    this.names = new Map(ctx.staff.map((s) => [s.id, s.display_name]));
  }

  /// Shows `view` in `pane`.
  async show(pane, view, counts) {
    this.pane = pane;
    this.view = view;
    this.selected.clear();
    this.cursor = 0;
    const label = counts.find((v) => v.key === view)?.label || view;
    this.table = h("table", { id: "case-list", class: "cases-table", "aria-label": `Cases: ${label}` });
    this.bulk = this.bulkBar();
    const tag = h("input", { id: "f-tag", type: "search", placeholder: "label", value: this.filters.tag, "aria-label": "Only cases with this label" });
    tag.addEventListener("change", () => { this.filters.tag = tag.value.trim().toLowerCase(); this.refresh(); });
    const account = h("select", { id: "f-account", "aria-label": "Only cases of this account" }, h("option", { value: "" }, "All accounts"),
      ...(this.ctx.accounts || []).map((a) => h("option", { value: a.id, selected: a.id === this.filters.account }, a.name)));
    account.addEventListener("change", () => { this.filters.account = account.value; this.refresh(); });
    pane.replaceChildren(
      h("div", { class: "list-head" }, h("h2", { id: "view-h" }, label),
        h("div", { class: "row" }, h("div", {}, h("label", { for: "f-account" }, "Account"), account), h("div", {}, h("label", { for: "f-tag" }, "Label"), tag))),
      this.bulk, this.table);
    await this.refresh();
  }

  async refresh() {
    if (!this.table?.isConnected) return;
    const q = new URLSearchParams({ view: this.view, limit: "200" });
    if (this.filters.tag) q.set("tag", this.filters.tag);
    if (this.filters.account) q.set("account_id", this.filters.account);
    const page = await this.ctx.api.get(`/api/v1/cases?${q}`);
    this.items = page.items;
    for (const id of [...this.selected]) if (!this.items.some((c) => c.id === id)) this.selected.delete(id);
    this.render();
  }

  sorted() {
    const [key, dir] = this.sort;
    const value = COLUMNS.find(([k]) => k === key)[2];
    return [...this.items].sort((a, b) => {
      const x = value(a, this.names);
      const y = value(b, this.names);
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
  }

  render() {
    const rows = this.sorted();
    this.rows = rows;
    this.cursor = Math.min(this.cursor, Math.max(rows.length - 1, 0));
    const all = h("input", { type: "checkbox", id: "select-all", "aria-label": "Select every case in the list", checked: rows.length > 0 && rows.every((c) => this.selected.has(c.id)) });
    all.addEventListener("change", () => { rows.forEach((c) => (all.checked ? this.selected.add(c.id) : this.selected.delete(c.id))); this.render(); });
    const header = h("tr", {}, h("th", { scope: "col" }, all), ...COLUMNS.map(([key, label]) => {
      const [sortKey, dir] = this.sort;
      const sortState = sortKey === key ? (dir === 1 ? "ascending" : "descending") : "none";
      return h("th", { scope: "col", "aria-sort": sortState },
        h("button", { type: "button", class: "sort", "data-sort": key, onclick: () => { this.sort = [key, sortKey === key ? -dir : 1]; this.render(); } },
          label, sortKey === key ? (dir === 1 ? " ▲" : " ▼") : ""));
    }));
    const body = rows.map((c, i) => {
      const unread = this.ctx.seen.unread(c);
      const box = h("input", { type: "checkbox", "data-select": c.id, "aria-label": `Select ${c.reference}`, checked: this.selected.has(c.id) });
      box.addEventListener("change", () => { if (box.checked) this.selected.add(c.id); else this.selected.delete(c.id); this.renderBulk(); });
      const sla = countdown(c);
      return h("tr", { "data-case": c.id, class: [unread ? "unread" : "", i === this.cursor ? "cursor" : ""].join(" ").trim(), "aria-selected": i === this.cursor ? "true" : "false" },
        h("td", {}, box),
        h("td", {}, unread ? h("span", { class: "dot", title: "New activity" }, h("span", { class: "sr-only" }, "New activity: ")) : null,
          h("a", { href: `/console/cases/${c.number}`, "data-nav": "", "data-open": c.id }, `${c.reference} ${c.subject}`),
          c.tags.length ? h("span", { class: "labels" }, ...c.tags.map((t) => h("span", { class: "label" }, t))) : null),
        h("td", {}, c.account_name || ""),
        h("td", {}, c.opened_by_name || "—", c.opened_by_function ? h("span", { class: "meta" }, ` · ${c.opened_by_function}`) : null),
        h("td", {}, c.channel),
        h("td", {}, STATUS_NAMES[c.status] || c.status),
        h("td", { class: `priority ${c.priority}` }, c.priority),
        h("td", {}, this.names.get(c.assignee_id) || "—"),
        h("td", { class: c.sla_breached ? "sla overdue" : "sla" }, sla.replace("SLA ", "")),
        h("td", {}, when(c.last_activity_at)));
    });
    this.table.replaceChildren(h("thead", {}, header), h("tbody", {}, ...body));
    if (!rows.length) this.table.append(h("tbody", {}, h("tr", {}, h("td", { colspan: String(COLUMNS.length + 1) }, "Nothing here right now."))));
    this.renderBulk();
  }

  bulkBar() {
    const staffOptions = [["", "Assign to…"], ["none", "Nobody"], ...this.ctx.staff.filter((s) => s.active && s.role !== "auditor").map((s) => [s.id, s.display_name])];
    const sel = (id, label, options) => h("select", { id, "aria-label": label }, ...options.map(([v, l]) => h("option", { value: v }, l)));
    this.bulkAssignee = sel("bulk-assignee", "Assign the selected cases", staffOptions);
    this.bulkStatus = sel("bulk-status", "Set the status of the selected cases", [["", "Status…"], ...Object.entries(STATUS_NAMES).filter(([k]) => k !== "new")]);
    this.bulkPriority = sel("bulk-priority", "Set the priority of the selected cases", [["", "Priority…"], ...["urgent", "high", "normal", "low"].map((p) => [p, p])]);
    this.bulkLabel = h("input", { id: "bulk-label", placeholder: "label", "aria-label": "Label to add or remove" });
    this.bulkCount = h("span", { id: "bulk-count", role: "status" });
    this.bulkError = h("span", { class: "error", role: "alert" });
    return h("div", { class: "bulk row", id: "bulk", hidden: true },
      this.bulkCount, this.bulkAssignee, this.bulkStatus, this.bulkPriority, this.bulkLabel,
      h("button", { type: "button", id: "bulk-add-label", class: "secondary", onclick: () => this.applyLabel(true) }, "Add label"),
      h("button", { type: "button", id: "bulk-remove-label", class: "secondary", onclick: () => this.applyLabel(false) }, "Remove label"),
      h("button", { type: "button", id: "bulk-apply", onclick: () => this.apply() }, "Apply"),
      this.bulkError);
  }

  renderBulk() {
    this.bulk.hidden = this.selected.size === 0;
    this.bulkCount.textContent = `${this.selected.size} selected`;
  }

  async patchSelected(change) {
    this.bulkError.textContent = "";
    const failed = [];
    for (const c of this.items.filter((x) => this.selected.has(x.id))) {
      try { await this.ctx.api.patch(`/api/v1/cases/${c.id}`, change(c)); } catch (e) { failed.push(`${c.reference}: ${e.message}`); }
    }
    this.selected.clear();
    await this.refresh();
    this.ctx.refreshCounts();
    if (failed.length) this.bulkError.textContent = failed.join("; ");
  }

  apply() {
    const patch = {};
    if (this.bulkAssignee.value) patch.assignee_id = this.bulkAssignee.value === "none" ? null : this.bulkAssignee.value;
    if (this.bulkStatus.value) patch.status = this.bulkStatus.value;
    if (this.bulkPriority.value) patch.priority = this.bulkPriority.value;
    if (!Object.keys(patch).length) { this.bulkError.textContent = "Choose an assignee, a status or a priority first."; return; }
    return this.patchSelected(() => patch);
  }

  applyLabel(add) {
    const label = this.bulkLabel.value.trim().toLowerCase();
    if (!label) { this.bulkError.textContent = "Type the label first."; return; }
    return this.patchSelected((c) => ({ tags: add ? [...new Set([...c.tags, label])] : c.tags.filter((t) => t !== label) }));
  }

  /// j/k and Enter.
  move(step) {
    if (!this.rows?.length) return;
    this.cursor = Math.max(0, Math.min(this.rows.length - 1, this.cursor + step));
    this.render();
    this.table.querySelector("tr.cursor a")?.focus();
  }

  openCursor() {
    const c = this.rows?.[this.cursor];
    if (c) this.ctx.navigate(`/console/cases/${c.number}`);
  }
}
