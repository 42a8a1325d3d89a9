// Rapport chat widget. On a client's site:
//   <script src="https://support.example.com/widget.js" async></script>
// adds a "Chat with us" button that opens the chat in a panel. The chat
// itself runs in a frame served by Rapport (its own origin, its own
// security policy); this script only places the button and the frame,
// closes the panel when the chat asks, and counts messages that arrive
// while it is closed.
(() => {
  const script = document.currentScript;
  if (!script || document.getElementById("rapport-chat-widget")) return;
  const origin = new URL(script.src).origin;
  const host = document.createElement("div");
  host.id = "rapport-chat-widget";
  const root = host.attachShadow({ mode: "open" });
  const style = document.createElement("style");
  style.textContent = `
    button { position: fixed; right: 1rem; bottom: 1rem; z-index: 2147483000; font: 600 15px system-ui, sans-serif;
      padding: .7rem 1.1rem; border-radius: 2rem; border: 0; background: #1f5fbf; color: #fff; cursor: pointer;
      box-shadow: 0 2px 8px #0004; }
    button:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
    .badge { display: inline-block; min-width: 1.3rem; margin-left: .5rem; padding: 0 .35rem; border-radius: 1rem;
      background: #fff; color: #a3261d; font-size: 13px; line-height: 1.3rem; text-align: center; }
    .badge[hidden] { display: none; }
    iframe { position: fixed; right: 1rem; bottom: 4.5rem; z-index: 2147483000; width: min(24rem, calc(100vw - 2rem));
      height: min(36rem, calc(100vh - 6rem)); border: 1px solid #d8dce4; border-radius: .6rem; background: #fff;
      box-shadow: 0 4px 24px #0003; }
    iframe[hidden] { display: none; }`;
  const button = document.createElement("button");
  button.type = "button";
  const label = document.createElement("span");
  label.textContent = "Chat with us";
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.hidden = true;
  button.append(label, badge);
  button.setAttribute("aria-expanded", "false");
  let frame = null;
  let unread = 0;
  const showUnread = () => {
    badge.hidden = unread === 0;
    badge.textContent = String(unread);
    button.setAttribute("aria-label", unread ? `Chat with us, ${unread} unread ${unread === 1 ? "message" : "messages"}` : "Chat with us");
  };
  const setOpen = (open) => {
    frame.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) { unread = 0; showUnread(); frame.focus(); } else { button.focus(); }
  };
  button.addEventListener("click", () => {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = `${origin}/widget`;
      frame.title = "Chat with support";
      root.append(frame);
      setOpen(true);
    } else {
      setOpen(frame.hidden);
    }
  });
  window.addEventListener("message", (ev) => {
    if (ev.origin !== origin || !frame || ev.source !== frame.contentWindow) return;
    const type = ev.data && ev.data.rapport;
    if (type === "close") setOpen(false);
    if (type === "unread" && frame.hidden) { unread += 1; showUnread(); }
  });
  root.append(style, button);
  document.body.append(host);
})();
