// Rendering a case thread: one list item per entry, ordered by id, each
// with its channel badge, author, time, body (collapsed email history
// behind a disclosure) and tombstones.

import { h, avatar, when } from "./api.js";

const LABELS = { chat: "chat", email_in: "email", email_out: "email", portal: "portal", note: "internal note", event: "event" };

const PREVIEWED = ["image/png", "image/jpeg", "image/gif", "image/webp"];

export class Thread {
  /// `actions(entry)` may return extra controls for an entry (staff tools);
  /// `api` opens files: images show inline, any file downloads on a click.
  constructor(list, actions = () => [], api = null) {
    this.list = list;
    this.actions = actions;
    this.api = api;
    this.names = new Map(); // author id -> person, filled from live frames
    this.items = new Map();
    this.data = new Map();
    this.previews = new Map(); // attachment url -> object URL
    list.addEventListener("click", async (ev) => {
      const a = ev.target.closest("a[data-attachment]");
      if (!a || !this.api) return;
      ev.preventDefault();
      try { await this.api.save(a.dataset.attachment, a.dataset.filename); } catch (e) { a.after(h("span", { class: "error", role: "alert" }, ` ${e.message}`)); }
    });
  }

  /// A live frame carries an entry without its files or email details:
  /// fetch the entry as the HTTP thread has it (the page after the entry
  /// before it) and show that.
  async complete(caseId, e) {
    if (!this.api || e.kind === "event") return;
    const before = [...this.items.keys()].filter((id) => id < e.id).sort().pop();
    const q = new URLSearchParams({ limit: "5" });
    if (before) q.set("cursor", before);
    const page = await this.api.get(`/api/v1/cases/${caseId}/entries?${q}`).catch(() => null);
    const full = page?.items.find((x) => x.id === e.id);
    if (full) this.put(full);
  }

  /// A file of an entry: its name, which downloads, and for images a preview.
  file(a) {
    if (a.redaction) return h("p", { class: "meta tomb" }, `${a.filename} was removed: ${a.redaction.reason}`);
    const link = h("a", { href: a.url, "data-attachment": a.url, "data-filename": a.filename, download: a.filename }, `📎 ${a.filename}`);
    const box = h("div", { class: "attachment" }, h("p", { class: "meta" }, link, ` (${Math.ceil(a.size / 1024)} KiB) · download`));
    if (this.api && PREVIEWED.includes(a.content_type)) {
      const img = h("img", { alt: a.filename, class: "preview", "data-preview": a.url });
      box.prepend(h("a", { href: a.url, "data-attachment": a.url, "data-filename": a.filename, title: `Download ${a.filename}` }, img));
      const known = this.previews.get(a.url);
      if (known) img.src = known;
      else this.api.blob(a.url).then((blob) => { const url = URL.createObjectURL(blob); this.previews.set(a.url, url); img.src = url; }).catch(() => img.remove());
    }
    return box;
  }

  clear() {
    this.items.clear();
    this.looks?.clear();
    this.data.clear();
    this.list.replaceChildren();
  }

  /// Adds or replaces an entry from the HTTP API or the websocket.
  put(incoming) {
    // The HTTP thread has attachments and email details, the websocket the
    // author's name: keep what either brought.
    const old = this.data.get(incoming.id) || {};
    const e = { ...old, ...incoming, attachments: incoming.attachments ?? old.attachments, email: incoming.email ?? old.email, author: incoming.author ?? old.author };
    this.data.set(e.id, e);
    // The same entry again (a backlog after reconnecting, the HTTP page and
    // the live frame): keep what is shown, and what the reader opened in it.
    const look = JSON.stringify([e.body, e.version, e.redacted, e.redaction, e.attachments, e.email?.collapsed, e.author?.name]);
    if (this.items.has(e.id) && this.looks?.get(e.id) === look) return;
    (this.looks ??= new Map()).set(e.id, look);
    const author = e.author || this.names.get(e.author_id) || { name: e.author_kind === "system" ? "Rapport" : (e.author_kind || "") };
    const li = h("li", { class: e.kind === "note" ? "note" : "", "data-entry": e.id },
      h("div", { class: "meta" },
        avatar(author), h("strong", {}, author.name || ""), " ",
        h("span", { class: `badge ${e.kind}` }, LABELS[e.kind] || e.kind), " ",
        h("time", { datetime: e.created_at }, when(e.created_at)),
        e.version > 1 ? h("span", { class: "meta" }, " · edited") : null),
      e.redaction || e.redacted
        ? h("p", { class: "body tomb" }, `Removed by an administrator${e.redaction ? `: ${e.redaction.reason}` : ""}.`)
        : h("p", { class: "body" }, e.body),
      ...this.actions(e),
      e.email?.collapsed ? h("details", {}, h("summary", {}, "Show the whole email"), h("p", { class: "body" }, e.email.full_text)) : null,
      ...(e.attachments || []).map((a) => this.file(a)));
    const shown = this.items.get(e.id);
    if (shown) {
      shown.replaceWith(li);
    } else {
      const after = [...this.items.keys()].filter((id) => id > e.id).sort()[0];
      if (after) this.list.insertBefore(li, this.items.get(after));
      else this.list.append(li);
    }
    this.items.set(e.id, li);
    li.scrollIntoView({ block: "nearest" });
  }
}
