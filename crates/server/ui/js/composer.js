// The box people write in: a message and files (picked, pasted or dropped),
// Enter to send where that is the custom (chat), Shift+Enter for a new line.

import { h } from "./api.js";

/// `onSend({ text, files })` returns a promise; the box clears when it
/// resolves and shows the error when it rejects.
export function composer({ id, label, onSend, onTyping = () => {}, enterSends = true, sendLabel = "Send" }) {
  const input = h("textarea", { id, "aria-label": label, rows: "2" });
  const picker = h("input", { type: "file", id: `${id}-file`, multiple: true, hidden: true });
  const pending = h("ul", { class: "pending-files", "aria-label": "Files to send" });
  const err = h("p", { class: "error", role: "alert" });
  let files = [];
  const showFiles = () => pending.replaceChildren(...files.map((f, i) => h("li", {},
    `📎 ${f.name || "pasted image"} (${Math.ceil(f.size / 1024)} KiB) `,
    h("button", { type: "button", class: "secondary small", "aria-label": `Remove ${f.name || "pasted image"}`, onclick: () => { files.splice(i, 1); showFiles(); } }, "Remove"))));
  const add = (list) => { files = files.concat([...list]); showFiles(); };
  picker.addEventListener("change", () => { add(picker.files); picker.value = ""; });
  input.addEventListener("input", () => onTyping(input.value.length > 0));
  input.addEventListener("blur", () => onTyping(false));
  input.addEventListener("paste", (ev) => {
    const pasted = [...(ev.clipboardData?.files || [])];
    if (pasted.length) { ev.preventDefault(); add(pasted); }
  });
  input.addEventListener("keydown", (ev) => {
    const send = ev.key === "Enter" && !ev.isComposing && (ev.ctrlKey || ev.metaKey || (enterSends && !ev.shiftKey));
    if (send) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  const form = h("form", { class: "composer", onsubmit: async (ev) => {
    ev.preventDefault();
    const text = input.value;
    if (!text.trim() && !files.length) return;
    err.textContent = "";
    const sending = files;
    try {
      input.value = "";
      files = [];
      showFiles();
      onTyping(false);
      await onSend({ text, files: sending });
    } catch (e) {
      input.value = text;
      files = sending;
      showFiles();
      err.textContent = e.message;
    }
  } },
  input, pending,
  h("div", { class: "composer-actions" },
    h("button", { type: "button", class: "secondary", id: `${id}-attach`, onclick: () => picker.click() }, "Attach files"),
    picker,
    h("button", { type: "submit", id: `${id}-send` }, sendLabel)),
  h("p", { class: "meta hint" }, enterSends
    ? "Enter sends, Shift+Enter starts a new line. Paste or drop files to attach them."
    : "Ctrl+Enter sends. Paste or drop files to attach them."),
  err);
  form.addEventListener("dragover", (ev) => { ev.preventDefault(); form.classList.add("dropping"); });
  form.addEventListener("dragleave", () => form.classList.remove("dropping"));
  form.addEventListener("drop", (ev) => {
    ev.preventDefault();
    form.classList.remove("dropping");
    add(ev.dataTransfer?.files || []);
  });
  return { form, input, focus: () => input.focus() };
}
