// The chat websocket (docs/chat-protocol.md): one connection per tab,
// rejoined after any drop with `since`, unacknowledged messages resent
// with the same client_message_id so nothing is lost or doubled.

export class Live {
  constructor(api, handlers) {
    this.api = api;
    this.on = handlers;
    this.followed = new Map(); // case id -> newest entry id seen
    this.pending = new Map(); // client_message_id -> frame
    this.backoff = 500;
    this.closed = false;
  }

  async connect() {
    const { ticket } = await this.api.post("/api/v1/chat/ticket");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws?ticket=${encodeURIComponent(ticket)}`);
    this.ws = ws;
    ws.onmessage = (e) => this.frame(JSON.parse(e.data));
    ws.onclose = () => {
      if (this.closed) return;
      this.on.status?.("reconnecting");
      setTimeout(() => this.connect().catch(() => ws.onclose()), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }

  frame(f) {
    switch (f.type) {
      case "hello":
        this.backoff = 500;
        this.on.status?.("connected");
        for (const [caseId, since] of this.followed) this.raw({ type: "join", case_id: caseId, since: since || undefined });
        for (const frame of this.pending.values()) this.raw(frame);
        break;
      case "backlog":
        for (const e of f.entries) this.seen(e);
        this.on.backlog?.(f);
        break;
      case "message":
        this.seen(f.entry);
        this.on.message?.(f.entry);
        break;
      case "ack":
        this.pending.delete(f.client_message_id);
        this.on.ack?.(f);
        break;
      case "error": {
        const frame = f.about && this.pending.get(f.about);
        if (frame && (f.code === "rate_limited" || f.code === "unavailable")) {
          // Not stored: send again, with the same id, a moment later.
          setTimeout(() => this.raw(frame), 1000);
          break;
        }
        if (frame) this.pending.delete(f.about);
        this.on.error?.(f);
        break;
      }
      default:
        this.on[f.type]?.(f);
    }
  }

  seen(entry) {
    const newest = this.followed.get(entry.case_id);
    if (!newest || entry.id > newest) this.followed.set(entry.case_id, entry.id);
  }

  raw(frame) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  join(caseId) {
    if (!this.followed.has(caseId)) this.followed.set(caseId, null);
    this.raw({ type: "join", case_id: caseId });
  }

  leave(caseId) {
    this.followed.delete(caseId);
    this.raw({ type: "leave", case_id: caseId });
  }

  /// Starts a chat (a new case). Kept until acknowledged and sent again
  /// after any reconnect, like messages: a question typed while the
  /// connection opens is not lost.
  start(body) {
    const frame = { type: "start", client_message_id: crypto.randomUUID(), body };
    this.pending.set(frame.client_message_id, frame);
    this.raw(frame);
    return frame.client_message_id;
  }

  send(caseId, body, note = false) {
    const frame = { type: "send", case_id: caseId, client_message_id: crypto.randomUUID(), body, note };
    this.pending.set(frame.client_message_id, frame);
    this.raw(frame);
    return frame.client_message_id;
  }

  /// Tells the others that this person has read up to `entryId`.
  read(caseId, entryId) {
    this.readSent ??= new Map();
    if (!entryId || (this.readSent.get(caseId) || "") >= entryId) return;
    this.readSent.set(caseId, entryId);
    this.raw({ type: "read", case_id: caseId, entry_id: entryId });
  }

  /// Typing indicators are throttled: one `active` every few seconds
  /// while typing, one `inactive` when done (the server rate-limits frames).
  typing(caseId, active, note = false) {
    this.typingSent ??= new Map();
    const last = this.typingSent.get(caseId);
    const now = Date.now();
    if (active && last && now - last < 2500) return;
    if (!active && !last) return;
    if (active) this.typingSent.set(caseId, now);
    else this.typingSent.delete(caseId);
    this.raw({ type: "typing", case_id: caseId, active, note });
  }

  close() {
    this.closed = true;
    this.ws?.close();
  }
}
