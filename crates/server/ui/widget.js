// Rapport chat widget. On a client's site:
//   <script src="https://support.example.com/widget.js" async></script>
// adds a "Chat with us" button that opens the chat in a panel. The chat
// itself runs in a frame served by Rapport (its own origin, its own
// security policy); this script only places the button and the frame.
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
    iframe { position: fixed; right: 1rem; bottom: 4.5rem; z-index: 2147483000; width: min(24rem, calc(100vw - 2rem));
      height: min(36rem, calc(100vh - 6rem)); border: 1px solid #d8dce4; border-radius: .6rem; background: #fff;
      box-shadow: 0 4px 24px #0003; }`;
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Chat with us";
  button.setAttribute("aria-expanded", "false");
  let frame = null;
  button.addEventListener("click", () => {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = `${origin}/widget`;
      frame.title = "Chat with support";
      root.append(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    button.setAttribute("aria-expanded", String(!frame.hidden));
  });
  root.append(style, button);
  document.body.append(host);
})();
