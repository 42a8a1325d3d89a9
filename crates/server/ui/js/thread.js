// Rendering a case thread: one list item per entry, ordered by id, each
// with its channel badge, author, time, body (collapsed email history
// behind a disclosure) and tombstones.

import { h, avatar, when } from "./api.js";

const LABELS = { chat: "chat", email_in: "email", email_out: "email", portal: "portal", note: "internal note", event: "event" };

export class Thread {
  /// `actions(entry)` may return extra controls for an entry (staff tools).
  constructor(list, actions = () => []) {
    this.list = list;
    this.actions = actions;
    this.names = new Map(); // author id -> person, filled from live frames
    this.items = new Map();
    this.data = new Map();
  }

  clear() {
    this.items.clear();
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
      ...(e.attachments || []).map((a) => a.redaction
        ? h("p", { class: "meta tomb" }, `${a.filename} was removed: ${a.redaction.reason}`)
        : h("p", { class: "meta" }, h("a", { href: "#", "data-attachment": a.url }, `📎 ${a.filename}`), ` (${Math.ceil(a.size / 1024)} KiB)`)));
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
