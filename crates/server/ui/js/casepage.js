// One case in the console: the whole thread, the controls to work it, a
// composer that is clear about who will read what, and beside it the
// client's context (account, contact, their other cases, satisfaction).

import { h, avatar, when } from "./api.js";
import { Thread } from "./thread.js";
import { composer } from "./composer.js";
import { healthBlock } from "./reports.js";
import { appointmentsSection } from "./appointments.js";
import { STATUS_NAMES, countdown } from "./workspace.js";

const MODES = { chat: "Chat reply", email: "Email reply", note: "Internal note" };

/// A draft per case, kept until it is sent.
const drafts = {
  key: (id) => `rapport.draft.${id}`,
  get(id) { return JSON.parse(localStorage.getItem(this.key(id)) || "null"); },
  set(id, text, mode) { if (text.trim()) localStorage.setItem(this.key(id), JSON.stringify({ text, mode })); else this.clear(id); },
  clear(id) { localStorage.removeItem(this.key(id)); },
};

export class CasePage {
  /// `ctx`: { api, me, staff, live, navigate, seen, refreshList, openAccount }.
  constructor(ctx) {
    this.ctx = ctx;
    this.current = null;
  }

  close() {
    if (this.current) this.ctx.live.leave(this.current.id);
    this.current = null;
  }

  /// Opens the case with this number or id in `pane`.
  async open(pane, ref) {
    const { api, me, live } = this.ctx;
    this.close();
    const detail = await api.get(`/api/v1/cases/${ref}`);
    const id = detail.id;
    const list = h("ol", { class: "thread", "aria-label": "Thread" });
    const c = {
      id, detail,
      thread: new Thread(list, (e) => this.entryTools(id, e), api),
      title: h("h2", { id: "case-h" }),
      sla: h("p", { class: "sla", id: "c-sla" }),
      people: h("div", { class: "people", role: "group", "aria-label": "Also here" }),
      typing: h("p", { class: "typing", "aria-live": "polite" }),
      seenBy: h("p", { class: "meta", id: "c-seen", "aria-live": "polite" }),
      error: h("p", { class: "error", role: "alert" }),
    };
    this.current = c;
    const [account, canned] = await Promise.all([
      api.get(`/api/v1/accounts/${detail.account_id}`).catch(() => null),
      api.get("/api/v1/canned-responses").catch(() => []),
    ]);
    c.account = account;
    const working = me.role !== "auditor";

    // Controls: status, priority, assignee, labels, merge.
    c.statusSel = h("select", { id: "c-status" }, ...Object.entries(STATUS_NAMES).map(([v, l]) => h("option", { value: v }, l)));
    c.prioritySel = h("select", { id: "c-priority" }, ...["low", "normal", "high", "urgent"].map((p) => h("option", { value: p }, p)));
    c.assigneeSel = h("select", { id: "c-assignee" }, h("option", { value: "" }, "Unassigned"),
      ...(account?.team?.members || []).map((m) => h("option", { value: m.id }, m.display_name)));
    c.labels = h("input", { id: "c-labels", placeholder: "vip, invoice", "aria-describedby": "c-labels-hint" });
    const patch = async (body) => {
      c.error.textContent = "";
      try { this.fill(await api.patch(`/api/v1/cases/${id}`, body)); this.ctx.refreshList(); } catch (e) { c.error.textContent = e.message; }
    };
    c.statusSel.addEventListener("change", () => patch({ status: c.statusSel.value }));
    c.prioritySel.addEventListener("change", () => patch({ priority: c.prioritySel.value }));
    c.assigneeSel.addEventListener("change", () => patch({ assignee_id: c.assigneeSel.value || null }));
    c.labels.addEventListener("change", () => patch({ tags: c.labels.value.split(",").map((t) => t.trim()).filter(Boolean) }));
    const siblings = (await api.get(`/api/v1/cases?account_id=${detail.account_id}&limit=100`)).items.filter((o) => o.id !== id && !o.merged_into_id);
    const mergeSel = h("select", { id: "c-merge" }, h("option", { value: "" }, "Merge into…"), ...siblings.map((o) => h("option", { value: o.id }, `${o.reference} ${o.subject}`)));
    const mergeBtn = h("button", { type: "button", class: "secondary", onclick: async () => {
      if (!mergeSel.value) return;
      try { const kept = await api.post(`/api/v1/cases/${id}/merge`, { into: mergeSel.value }); this.ctx.navigate(`/console/cases/${kept.number}`); } catch (e) { c.error.textContent = e.message; }
    } }, "Merge");

    // The composer: mode, who will read it, canned responses, files, drafts.
    const defaultMode = detail.channel === "email" ? "email" : "chat";
    const mode = h("select", { id: "c-mode" }, ...Object.entries(MODES).map(([v, l]) => h("option", { value: v }, l)));
    const recipients = h("p", { class: "meta", id: "c-recipients", "aria-live": "polite" });
    const box = composer({
      id: "c-reply", label: "Reply", enterSends: false,
      onTyping: (active) => live.typing(id, active, mode.value === "note"),
      onSend: async ({ text, files }) => {
        c.error.textContent = "";
        const kind = { chat: "chat", email: "email_out", note: "note" }[mode.value];
        if (files.length) {
          const posted = await api.upload(`/api/v1/cases/${id}/attachments`, { kind, body: text, client_message_id: crypto.randomUUID() }, files);
          c.thread.put(posted.entry);
        } else if (mode.value === "email") {
          const posted = await api.post(`/api/v1/cases/${id}/entries`, { kind: "email_out", body: text, client_message_id: crypto.randomUUID() });
          c.thread.put(posted.entry);
        } else {
          live.send(id, text, mode.value === "note");
        }
        drafts.clear(id);
        // Back to replying: the next message is never a note by mistake.
        mode.value = defaultMode;
        showMode();
      },
    });
    c.input = box.input;
    c.mode = mode;
    const showMode = () => {
      box.form.classList.toggle("note-mode", mode.value === "note");
      box.input.setAttribute("aria-label", MODES[mode.value]);
      recipients.textContent = mode.value === "note"
        ? "Only staff see internal notes."
        : mode.value === "email" ? `Emailed to: ${c.recipients || "…"}` : `Shown in the chat and portal of: ${c.recipients || "…"}`;
    };
    mode.addEventListener("change", () => { showMode(); drafts.set(id, box.input.value, mode.value); box.focus(); });
    box.input.addEventListener("input", () => drafts.set(id, box.input.value, mode.value));
    const draft = drafts.get(id);
    mode.value = draft?.mode || defaultMode;
    if (draft) box.input.value = draft.text;
    const cannedSel = h("select", { id: "c-canned", "aria-label": "Insert a canned response" }, h("option", { value: "" }, "Insert a canned response…"),
      ...canned.map((r) => h("option", { value: r.id }, r.title)));
    cannedSel.addEventListener("change", async () => {
      if (!cannedSel.value) return;
      try {
        const { text, actions } = await api.post(`/api/v1/canned-responses/${cannedSel.value}/render`, { case_id: id });
        const input = box.input;
        const at = input.selectionStart ?? input.value.length;
        input.value = input.value.slice(0, at) + text + input.value.slice(input.selectionEnd ?? at);
        drafts.set(id, input.value, mode.value);
        // A macro changes the case too, as the agent's own change.
        const change = {};
        if (actions?.status) change.status = actions.status;
        if (actions?.priority) change.priority = actions.priority;
        if (actions?.add_tags?.length) change.tags = [...new Set([...(c.detail.tags || []), ...actions.add_tags])];
        if (Object.keys(change).length) await patch(change);
        input.focus();
      } catch (e) { c.error.textContent = e.message; }
      cannedSel.value = "";
    });
    // Markdown: **bold**, lists, links; the email's HTML part shows it
    // formatted. The preview renders it as it will look.
    const preview = h("div", { class: "article-body preview-box", id: "c-preview", hidden: true, "aria-live": "polite" });
    const previewBtn = h("button", { type: "button", class: "secondary small", id: "c-preview-toggle", "aria-pressed": "false", onclick: async () => {
      const on = preview.hidden;
      previewBtn.setAttribute("aria-pressed", String(on));
      if (!on) { preview.hidden = true; return; }
      try {
        const { html } = await api.post("/api/v1/markdown", { text: box.input.value });
        preview.innerHTML = html; // sanitised by the server; the page's CSP forbids scripts anyway
        preview.hidden = false;
      } catch (e) { c.error.textContent = e.message; }
    } }, "Preview");
    box.input.addEventListener("input", () => { if (!preview.hidden) { preview.hidden = true; previewBtn.setAttribute("aria-pressed", "false"); } });
    const composerBox = working ? h("section", { class: "reply", "aria-label": "Write" },
      h("div", { class: "row" }, h("div", {}, h("label", { for: "c-mode" }, "Send as"), mode), h("div", {}, h("label", { for: "c-canned" }, "Canned response"), cannedSel)),
      recipients, box.form,
      h("p", { class: "meta" }, "Markdown works: **bold**, *italic*, - lists, [links](https://…). ", previewBtn), preview) : null;

    c.appointments = working ? appointmentsSection(api, id, "staff") : null;
    c.context = h("aside", { class: "context card", id: "context", "aria-label": "About this client" }, h("p", {}, "Loading…"));
    const main = h("section", { class: "case-main", "aria-labelledby": "case-h" },
      c.title, c.sla,
      h("div", { class: "row controls" },
        h("div", {}, h("label", { for: "c-status" }, "Status"), c.statusSel),
        h("div", {}, h("label", { for: "c-priority" }, "Priority"), c.prioritySel),
        h("div", {}, h("label", { for: "c-assignee" }, "Assignee"), c.assigneeSel),
        h("div", {}, h("label", { for: "c-labels" }, "Labels"), c.labels)),
      h("p", { class: "meta", id: "c-labels-hint" }, "Labels: comma-separated; press Enter or leave the field to save."),
      h("div", { class: "row" }, h("div", {}, h("label", { for: "c-merge" }, "Merge"), mergeSel), mergeBtn),
      detail.routing_note ? h("p", { class: "meta", id: "c-routing" }, detail.routing_note) : null,
      detail.articles_shown?.length ? h("p", { class: "meta", id: "c-shown" }, "Before opening, the client read: ", detail.articles_shown.map((a) => a.title).join("; ")) : null,
      h("p", { class: "meta", id: "c-rating" }),
      h("div", { class: "people-line" }, h("span", { class: "meta" }, "Also here: "), c.people),
      list, c.seenBy, c.typing, composerBox, c.error, c.appointments);
    pane.replaceChildren(h("div", { class: "case-layout" }, main, c.context));
    for (const el of [c.statusSel, c.prioritySel, c.assigneeSel, c.labels, mergeSel, mergeBtn]) el.disabled = !working;
    this.fill(detail);
    showMode();
    // The countdown moves on its own.
    clearInterval(this.tick);
    this.tick = setInterval(() => { if (this.current === c) c.sla.textContent = countdown(c.detail); else clearInterval(this.tick); }, 30_000);
    (await api.get(`/api/v1/cases/${id}/entries?limit=200`)).items.forEach((e) => c.thread.put(e));
    live.join(id);
    this.ctx.seen.mark(detail);
    c.showMode = showMode;
    this.context(detail, showMode);
    api.get(`/api/v1/cases/${id}/satisfaction`).then((s) => {
      const el = document.getElementById("c-rating");
      if (el && s.status === "rated") el.textContent = `Client rating: ${s.rating} of 5${s.comment ? ` · “${s.comment}”` : ""}`;
      else if (el && s.status === "open") el.textContent = "Rating asked, not answered yet.";
    }).catch(() => {});
  }

  fill(c) {
    const cur = this.current;
    if (!cur || cur.id !== c.id) return;
    cur.detail = { ...cur.detail, ...c };
    cur.title.textContent = `${c.reference || `#${c.number}`} ${c.subject}`;
    document.title = `${c.reference || `#${c.number}`} ${c.subject} · console`;
    if ("sla_due_at" in c) cur.sla.textContent = countdown(c);
    cur.statusSel.value = c.status;
    cur.prioritySel.value = c.priority;
    cur.assigneeSel.value = c.assignee_id || "";
    if (document.activeElement !== cur.labels) cur.labels.value = (c.tags || []).join(", ");
  }

  /// The panel beside the thread: who the client is and their history.
  async context(detail, showMode) {
    const { api } = this.ctx;
    const cur = this.current;
    const a = cur.account;
    const ids = [...new Set([detail.opened_by_contact_id, ...(detail.participant_ids || [])].filter(Boolean))];
    const [contacts, others, policies, health] = await Promise.all([
      Promise.all(ids.map((cid) => api.get(`/api/v1/contacts/${cid}`).catch(() => null))),
      api.get(`/api/v1/cases?account_id=${detail.account_id}&view=open&limit=20`).catch(() => ({ items: [] })),
      api.get("/api/v1/sla/policies").catch(() => null),
      healthBlock(api, detail.account_id).catch(() => null),
    ]);
    if (this.current !== cur) return;
    const people = contacts.filter(Boolean);
    cur.recipients = people.filter((p) => p.active && p.emails.length).map((p) => `${p.name} <${p.emails[0]}>`).join(", ") || "no contact with an email address";
    showMode();
    const opener = people.find((p) => p.id === detail.opened_by_contact_id);
    const targets = policies?.tiers?.[a?.tier];
    const hours = (m) => (m % 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m / 60} h`);
    const staffName = new Map(this.ctx.staff.map((s) => [s.id, s.display_name]));
    // Parts that do not apply come as null; the DOM would print them.
    cur.context.replaceChildren(...[
      h("h3", {}, "Account"),
      a ? h("p", {}, h("a", { href: `/console/accounts/${a.id}`, "data-nav": "", id: "c-account" }, a.name)) : null,
      a ? h("dl", { class: "facts" },
        h("dt", {}, "Tier"), h("dd", {}, a.tier || "—"),
        h("dt", {}, "Lifecycle"), h("dd", {}, a.lifecycle || "—"),
        h("dt", {}, "Owner"), h("dd", {}, a.owner ? a.owner.display_name : "—"),
        h("dt", {}, "Team"), h("dd", {}, a.team ? a.team.name : "—"),
        h("dt", {}, "Service level"), h("dd", {}, targets ? `first answer ${hours(targets.first_response_minutes)}, resolution ${hours(targets.resolution_minutes)}` : "—")) : null,
      health,
      h("h3", {}, "Contact"),
      opener ? h("dl", { class: "facts", id: "c-contact" },
        h("dt", {}, "Name"), h("dd", {}, opener.name, opener.title ? `, ${opener.title}` : ""),
        h("dt", {}, "Function"), h("dd", {}, opener.function),
        h("dt", {}, "Sees"), h("dd", {}, { all_account_cases: "all company cases", function_cases: "own and their function's cases" }[opener.visibility] || "own cases"),
        h("dt", {}, "Prefers"), h("dd", {}, opener.preferred_channel),
        h("dt", {}, "Email"), h("dd", {}, opener.emails[0] || "—"),
        opener.phone ? h("dt", {}, "Phone") : null, opener.phone ? h("dd", {}, opener.phone) : null)
        : h("p", { class: "meta" }, "Opened by the team."),
      this.copied(detail, people, opener),
      h("h3", {}, "Other open cases"),
      others.items.filter((o) => o.id !== detail.id).length
        ? h("ul", { class: "plain", id: "c-others" }, ...others.items.filter((o) => o.id !== detail.id).map((o) => h("li", {},
          h("a", { href: `/console/cases/${o.number}`, "data-nav": "" }, `${o.reference} ${o.subject}`),
          h("span", { class: "meta" }, ` · ${STATUS_NAMES[o.status]} · ${staffName.get(o.assignee_id) || "unassigned"}`))))
        : h("p", { class: "meta" }, "None."),
    ].filter(Boolean));
    // What your other systems know of this client, as they answer.
    const cards = h("div", { id: "c-cards", "aria-live": "polite" });
    cur.context.append(cards);
    const answers = await api.get(`/api/v1/cases/${detail.id}/cards`).catch(() => []);
    if (this.current !== cur) return;
    cards.replaceChildren(...answers.map((x) => x.card
      ? h("section", { class: "customer-card", "data-source": x.source },
        h("h3", {}, x.card.title),
        x.card.rows.length ? h("dl", { class: "facts" }, ...x.card.rows.flatMap((r) => [h("dt", {}, r.label), h("dd", {}, r.value)])) : null,
        x.card.links.length ? h("ul", { class: "plain" }, ...x.card.links.map((l) => h("li", {},
          h("a", { href: l.url, target: "_blank", rel: "noopener noreferrer" }, l.label)))) : null)
      : h("p", { class: "meta", "data-source": x.source }, `${x.source}: no card, ${x.error}.`)));
  }

  /// Who besides the opener receives the case's replies (CC), and adding
  /// someone: a contact of the account, or an address that becomes one
  /// (outside the account's domains only when confirmed).
  copied(detail, people, opener) {
    const { api, me } = this.ctx;
    const cur = this.current;
    const working = me.role !== "auditor";
    const reload = async () => {
      const fresh = await api.get(`/api/v1/cases/${detail.id}`);
      if (this.current !== cur) return;
      cur.detail = { ...cur.detail, ...fresh };
      this.context(cur.detail, cur.showMode);
    };
    const others = people.filter((p) => p !== opener);
    const list = h("ul", { class: "plain", id: "c-participants" }, ...others.map((p) => h("li", {},
      `${p.name} <${p.emails[0] || "no address"}>`, p.active ? "" : " (deactivated)",
      working ? h("button", { type: "button", class: "secondary small", "aria-label": `Stop copying ${p.name}`, "data-uncopy": p.id, onclick: async () => {
        try { await api.del(`/api/v1/cases/${detail.id}/participants/${p.id}`); await reload(); } catch (e) { cur.error.textContent = e.message; }
      } }, "Remove") : null)));
    const nodes = [h("h3", {}, "Copied (CC)"), others.length ? list : h("p", { class: "meta", id: "c-participants" }, "Nobody besides the contact who opened it.")];
    if (!working) return h("div", {}, ...nodes);
    const email = h("input", { id: "c-cc-email", type: "email", placeholder: "name@client.example", autocomplete: "off" });
    const name = h("input", { id: "c-cc-name", placeholder: "Name (for a new contact)", autocomplete: "off" });
    const confirmBox = h("p", { id: "c-cc-confirm", hidden: true });
    const err = h("p", { class: "error", role: "alert", id: "c-cc-error" });
    let confirmed = false;
    const add = async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      try {
        await api.post(`/api/v1/cases/${detail.id}/participants`, { email: email.value.trim(), name: name.value.trim() || undefined, confirm_outside: confirmed || undefined });
        await reload();
      } catch (e) {
        if (e.field === "confirm_outside") {
          // Outside the account: say so plainly and ask once more.
          const box = h("input", { type: "checkbox", id: "c-cc-outside" });
          box.addEventListener("change", () => { confirmed = box.checked; });
          confirmBox.replaceChildren(h("label", { for: "c-cc-outside" }, box, ` Yes, add them: ${e.message.replace(/^confirm_outside /, "")}`));
          confirmBox.hidden = false;
        } else err.textContent = e.field ? `${e.field}: ${e.message}` : e.message;
      }
    };
    nodes.push(h("form", { id: "c-cc-form", onsubmit: add },
      h("label", { for: "c-cc-email" }, "Copy someone on the replies"), email,
      h("label", { for: "c-cc-name" }, "Their name"), name, confirmBox,
      h("button", { type: "submit", class: "secondary small", id: "c-cc-add" }, "Add"), err));
    return h("div", {}, ...nodes);
  }

  /// Versions of edited entries for staff; redaction for admins.
  entryTools(caseId, e) {
    const { api, me } = this.ctx;
    const tools = [];
    const path = `/api/v1/cases/${caseId}/entries/${e.id}`;
    if (e.version > 1 && !e.redacted && !e.redaction) {
      const box = h("div", { class: "versions" });
      // Opened versions stay open when the entry is shown again.
      this.versions ??= new Map();
      const fill = (versions) => box.replaceChildren(h("ol", {}, ...versions.map((v) => h("li", {},
        h("span", { class: "meta" }, `version ${v.version} · ${when(v.written_at)} · SHA-256 ${v.body_sha256.slice(0, 12)}…`),
        h("p", { class: "body" }, v.body)))));
      if (this.versions.has(e.id)) fill(this.versions.get(e.id));
      tools.push(h("button", { type: "button", class: "secondary small", "data-versions": e.id, onclick: async () => {
        const versions = await api.get(`${path}/versions`);
        this.versions.set(e.id, versions);
        fill(versions);
      } }, "Versions"), box);
    }
    if (me.role !== "admin") return tools;
    const refresh = async () => {
      const fresh = (await api.get(`/api/v1/cases/${caseId}/entries?limit=200`)).items.find((x) => x.id === e.id);
      if (fresh && this.current) this.current.thread.put(fresh);
    };
    // One control per thing that can be removed: the entry's text, each file.
    const control = (label, key, url) => {
      const reason = h("input", { "aria-label": "Why this content must go", placeholder: "Why (kept on the tombstone)", "data-reason": key });
      const confirm = h("div", { class: "row", hidden: true }, reason,
        h("button", { type: "button", "data-redact-confirm": key, onclick: async () => {
          try { await api.post(url, { reason: reason.value }); } catch (err) { this.current.error.textContent = err.message; return; }
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

  // ---- live events for the open case ----

  /// The case as the API has it now (service-level fields included).
  async refreshCase() {
    const cur = this.current;
    if (!cur) return;
    const fresh = await this.ctx.api.get(`/api/v1/cases/${cur.id}`).catch(() => null);
    if (fresh && this.current === cur) this.fill(fresh);
  }

  message(e) {
    const cur = this.current;
    if (cur?.id !== e.case_id) return false;
    cur.thread.put(e);
    cur.thread.complete(cur.id, e);
    // An answer stops one clock and may start another.
    clearTimeout(this.slaTimer);
    this.slaTimer = setTimeout(() => this.refreshCase(), 300);
    cur.typing.textContent = "";
    if (e.kind === "event") cur.appointments?.refresh();
    this.ctx.seen.mark({ id: cur.id, last_activity_at: e.created_at });
    return true;
  }

  typing(f) {
    const cur = this.current;
    if (cur?.id !== f.case_id) return;
    cur.typing.textContent = f.active ? `${f.who.name} is ${f.who.kind === "staff" ? "replying" : "typing"}…` : "";
    clearTimeout(this.typingTimer);
    if (f.active) this.typingTimer = setTimeout(() => { if (this.current) this.current.typing.textContent = ""; }, 6000);
  }

  presence(f) {
    const cur = this.current;
    if (cur?.id !== f.case_id) return;
    cur.people.replaceChildren(...f.in_case.filter((p) => p.id !== this.ctx.me.id).map((p) => h("span", { class: "online" }, avatar(p), `${p.name} (${p.kind})`)));
  }

  /// A client's read marker: "Seen by Anna · 10:42".
  read(f) {
    const cur = this.current;
    if (cur?.id !== f.case_id || f.who?.kind !== "contact") return;
    const at = new Date().toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    cur.seenBy.textContent = `Seen by ${f.who.name} · ${at}`;
  }
}
