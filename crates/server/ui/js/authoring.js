// Staff authoring in the console: knowledge base articles (with their
// revisions) and canned responses.

import { h, when } from "./api.js";
import { knowledgeBrowser } from "./knowledge.js";

const split = (text) => text.split(",").map((t) => t.trim()).filter(Boolean);

/// The article editor: a new article, or a new revision of `article`.
function articleForm(api, pane, instance, accounts, article, done) {
  const err = h("p", { class: "error", role: "alert" });
  const title = h("input", { id: "a-title", maxlength: "200", value: article?.title || "" });
  const body = h("textarea", { id: "a-body", rows: "12" });
  body.value = article?.body || "";
  const category = h("input", { id: "a-category", maxlength: "60", value: article?.category || "" });
  const tags = h("input", { id: "a-tags", value: (article?.tags || []).join(", "), placeholder: "invoices, vat" });
  const visibility = h("select", { id: "a-visibility" },
    ...[["public", "Everyone, also without signing in"], ["contacts", "Signed-in contacts of every account"], ["restricted", "Only the tiers and accounts below"]]
      .map(([v, l]) => h("option", { value: v, selected: (article?.visibility || "contacts") === v }, l)));
  const tierBoxes = (instance.tiers || []).map((t) => h("label", {}, h("input", { type: "checkbox", value: t, "data-tier": t, checked: (article?.audience_tiers || []).includes(t) }), ` ${t}`));
  const accountSel = h("select", { id: "a-accounts", multiple: true, size: "4" },
    ...accounts.map((a) => h("option", { value: a.id, selected: (article?.audience_accounts || []).includes(a.id) }, a.name)));
  const audience = h("fieldset", { hidden: (article?.visibility || "contacts") !== "restricted" },
    h("legend", {}, "Who may read it"), ...tierBoxes, h("label", { for: "a-accounts" }, "Accounts"), accountSel);
  visibility.addEventListener("change", () => { audience.hidden = visibility.value !== "restricted"; });
  const status = h("select", { id: "a-status" }, ...["draft", "published", "archived"].map((v) => h("option", { value: v, selected: (article?.status || "draft") === v }, v)));
  const save = async (ev) => {
    ev.preventDefault();
    const restricted = visibility.value === "restricted";
    const payload = {
      title: title.value, body: body.value, category: category.value || undefined, tags: split(tags.value),
      visibility: visibility.value, status: status.value,
      audience_tiers: restricted ? tierBoxes.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value) : [],
      audience_accounts: restricted ? [...accountSel.selectedOptions].map((o) => o.value) : [],
    };
    try {
      const saved = article ? await api.put(`/api/v1/kb/articles/${article.id}`, payload) : await api.post("/api/v1/kb/articles", payload);
      done(saved);
    } catch (e) { err.textContent = e.message; }
  };
  pane.replaceChildren(h("form", { onsubmit: save },
    h("h2", {}, article ? `Edit: ${article.title}` : "New article"),
    h("label", { for: "a-title" }, "Title"), title,
    h("label", { for: "a-body" }, "Text (Markdown: # headings, **bold**, lists, links)"), body,
    h("div", { class: "row" }, h("div", {}, h("label", { for: "a-category" }, "Category"), category), h("div", {}, h("label", { for: "a-tags" }, "Tags"), tags)),
    h("label", { for: "a-visibility" }, "Visible to"), visibility, audience,
    h("label", { for: "a-status" }, "Status"), status,
    h("p"), h("button", { type: "submit", id: "a-save" }, "Save"), err));
}

async function revisions(api, article) {
  const box = h("section", { id: "revisions" }, h("h3", {}, "Revisions (from the audit log)"));
  const list = await api.get(`/api/v1/kb/articles/${article.id}/revisions`).catch(() => []);
  box.append(h("ol", {}, ...list.map((r) => h("li", {}, `${r.action.replace("article.", "")} · ${when(r.at)} · revision ${r.content.revision} · ${r.content.status}`))));
  return box;
}

/// The knowledge base for staff: browse everything, write and revise.
export function knowledgeAdmin(api, pane, instance, accounts, canWrite) {
  const extra = (a) => {
    const history = h("div");
    revisions(api, a).then((r) => history.replaceChildren(r));
    return [canWrite ? h("p", {}, h("button", { type: "button", id: "a-edit", onclick: () => articleForm(api, pane, instance, accounts, a, (saved) => ui.open(saved.id)) }, "Edit")) : null, history];
  };
  const create = h("p", {}, h("button", { type: "button", id: "a-new", onclick: () => articleForm(api, pane, instance, accounts, null, (saved) => ui.open(saved.id)) }, "New article"));
  const ui = knowledgeBrowser(api, pane, { staff: true, extra, actions: canWrite ? [create] : [] });
  return ui;
}

/// Canned responses: list, write, change, delete.
export async function cannedAdmin(api, pane, me) {
  const err = h("p", { class: "error", role: "alert" });
  const [list, teams] = await Promise.all([api.get("/api/v1/canned-responses"), api.get("/api/v1/teams").catch(() => [])]);
  const mine = me.role === "admin" ? teams : teams.filter((t) => t.members.some((m) => m.staff_id === me.id));
  const form = (c) => {
    const title = h("input", { id: "cr-title", maxlength: "120", value: c?.title || "" });
    const body = h("textarea", { id: "cr-body", rows: "6" });
    body.value = c?.body || "";
    const team = h("select", { id: "cr-team" },
      me.role === "admin" ? h("option", { value: "" }, "Everyone (global)") : null,
      ...mine.map((t) => h("option", { value: t.id, selected: c?.team_id === t.id }, t.name)));
    // A macro: inserting the response also changes the case.
    const a = c?.actions || {};
    const status = h("select", { id: "cr-status" }, h("option", { value: "" }, "Leave as it is"),
      ...[["open", "Open"], ["pending_client", "Waiting on client"], ["pending_internal", "Waiting internally"], ["resolved", "Resolved"], ["closed", "Closed"]]
        .map(([v, l]) => h("option", { value: v, selected: a.status === v }, l)));
    const priority = h("select", { id: "cr-priority" }, h("option", { value: "" }, "Leave as it is"),
      ...["urgent", "high", "normal", "low"].map((p) => h("option", { value: p, selected: a.priority === p }, p)));
    const tags = h("input", { id: "cr-tags", value: (a.add_tags || []).join(", "), placeholder: "refund, billing" });
    return h("form", { class: "card", onsubmit: async (ev) => {
      ev.preventDefault();
      const actions = { status: status.value || undefined, priority: priority.value || undefined, add_tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean) };
      const payload = { title: title.value, body: body.value, team_id: team.value || undefined, actions };
      try {
        if (c) await api.put(`/api/v1/canned-responses/${c.id}`, payload); else await api.post("/api/v1/canned-responses", payload);
        cannedAdmin(api, pane, me);
      } catch (e) { err.textContent = e.message; }
    } },
    h("label", { for: "cr-title" }, "Title"), title,
    h("label", { for: "cr-body" }, "Text"), body,
    h("p", { class: "meta" }, "Placeholders: {{contact.name}}, {{contact.first_name}}, {{case.number}}, {{case.subject}}, {{account.name}}, {{agent.name}}"),
    h("label", { for: "cr-team" }, "For"), team,
    h("fieldset", {}, h("legend", {}, "When inserted, also (a macro)"),
      h("label", { for: "cr-status" }, "Set the status to"), status,
      h("label", { for: "cr-priority" }, "Set the priority to"), priority,
      h("label", { for: "cr-tags" }, "Add the labels (comma-separated)"), tags),
    h("p"), h("button", { type: "submit", id: "cr-save" }, "Save"));
  };
  const editor = h("div");
  const teamName = (id) => teams.find((t) => t.id === id)?.name || "a team";
  pane.replaceChildren(h("h2", {}, "Canned responses"),
    h("table", { id: "canned" }, h("thead", {}, h("tr", {}, h("th", {}, "Title"), h("th", {}, "For"), h("th", {}, ""))),
      h("tbody", {}, ...list.map((c) => h("tr", {}, h("td", {}, c.title, Object.keys(c.actions || {}).length ? h("span", { class: "meta" }, " · macro") : null), h("td", {}, c.team_id ? teamName(c.team_id) : "everyone"),
        h("td", {}, me.role === "auditor" ? null : [
          h("button", { type: "button", class: "secondary small", onclick: () => editor.replaceChildren(form(c)) }, "Edit"),
          h("button", { type: "button", class: "secondary small", onclick: async () => {
            try { await api.del(`/api/v1/canned-responses/${c.id}`); cannedAdmin(api, pane, me); } catch (e) { err.textContent = e.message; }
          } }, "Delete")]))))),
    me.role === "auditor" ? null : h("button", { type: "button", id: "cr-new", onclick: () => editor.replaceChildren(form(null)) }, "New canned response"),
    editor, err);
}
