// The staff notification stream (GET /api/v1/notifications/stream): new
// cases and chats, client messages, changes, service-level warnings. Read
// with fetch, because EventSource cannot send the Authorization header;
// reconnects after any drop.

export function followNotifications(api, onEvent) {
  let backoff = 500;
  const run = async () => {
    for (;;) {
      try {
        const res = await fetch("/api/v1/notifications/stream", { headers: { Authorization: `Bearer ${api.tokens?.access_token}` } });
        if (res.status === 401 && (await api.refresh())) continue;
        if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
        backoff = 500;
        onEvent({ kind: "connected" });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
            if (data) { try { onEvent(JSON.parse(data)); } catch { /* a malformed event is skipped */ } }
          }
        }
      } catch { /* dropped: try again below */ }
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  };
  run();
}

/// Desktop notifications, when the agent turned them on (and the browser
/// allows them).
export const desktop = {
  get on() { return localStorage.getItem("rapport.desktop-notifications") === "on" && "Notification" in window && Notification.permission === "granted"; },
  async enable() {
    if (!("Notification" in window)) return false;
    const permission = await Notification.requestPermission();
    localStorage.setItem("rapport.desktop-notifications", permission === "granted" ? "on" : "off");
    return permission === "granted";
  },
  disable() { localStorage.setItem("rapport.desktop-notifications", "off"); },
  show(title, body, onClick) {
    if (!this.on) return;
    const n = new Notification(title, { body, tag: title });
    n.onclick = () => { window.focus(); onClick?.(); n.close(); };
  },
};
