// The chat inside the widget frame: sign in with the code from the
// sign-in email (or a password), start a chat, answer the triage question,
// see who of the team is there and typing, and be told when nobody is.

import { Api, ApiError, h, avatar } from "./api.js";
import { Live } from "./live.js";
import { Thread } from "./thread.js";
import { ratingForm } from "./rating.js";
import { composer } from "./composer.js";

/// Tells the page around the widget (its own script, on the client's site).
function tellHost(type) { window.parent.postMessage({ rapport: type }, "*"); }

const api = new Api("widget");
const app = document.getElementById("app");
let instance = null;
let live = null;
let chat = null; // { id, thread, ... }
let acting = null; // the company the person acts for (one of their memberships)
let several = false; // they are a contact of several companies

function show(...nodes) { app.replaceChildren(...nodes); }

async function start() {
  instance = await api.get("/api/v1/instance");
  document.getElementById("desk").textContent = `Chat with ${instance.name}`;
  document.getElementById("who").replaceChildren(
    h("button", { type: "button", id: "w-close", "aria-label": "Close the chat", title: "Close (the conversation stays)", onclick: () => tellHost("close") }, "×"));
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") tellHost("close"); });
  let me = null;
  if (!api.signedIn) return signIn();
  try { me = await api.get("/api/v1/me"); } catch { return signIn(); }
  acting = me.memberships.find((m) => m.current) || null;
  several = me.memberships.length > 1;
  live = new Live(api, {
    ack: (f) => {
      if (!chat) openChat(f.case_id);
    },
    backlog: (f) => { if (chat?.id === f.case_id) { f.entries.forEach((e) => chat.thread.put(e)); triage(f.case); } },
    message: (e) => {
      if (chat?.id !== e.case_id) return;
      chat.thread.put(e);
      chat.thread.complete(e.case_id, e);
      chat.typing.textContent = "";
      if (e.author_id !== me?.id) tellHost("unread");
      if (document.visibilityState === "visible") live.read(e.case_id, e.id);
    },
    entry_updated: (f) => { if (chat?.id === f.entry.case_id) chat.thread.put(f.entry); },
    case_updated: (f) => { if (chat?.id === f.case.id) triage(f.case); },
    presence: (f) => {
      if (chat?.id !== f.case_id) return;
      if (f.team_online.length) chat.notice.textContent = "";
      chat.team.replaceChildren(...f.team_online.map((p) => h("span", { class: "online" }, avatar(p), p.name)));
    },
    typing: (f) => {
      if (chat?.id !== f.case_id) return;
      chat.typing.textContent = f.active ? `${f.who.name} is typing…` : "";
      clearTimeout(chat.typingTimer);
      if (f.active) chat.typingTimer = setTimeout(() => { chat.typing.textContent = ""; }, 6000);
    },
    notice: (f) => { if (chat?.id === f.case_id) chat.notice.textContent = f.text; },
    error: (f) => { if (chat) chat.error.textContent = f.message; else document.getElementById("w-error")?.replaceChildren(f.message); },
  });
  await live.connect();
  // The person switched company in another tab (the portal): a chat of
  // the other company is not theirs to continue here.
  api.onSessionChange(() => location.reload());
  const known = knownChat();
  // The question asked before switching to the company it is for.
  const first = sessionStorage.getItem("rapport.widget.first");
  sessionStorage.removeItem("rapport.widget.first");
  const current = me.memberships.find((m) => m.current);
  if (known && known.account_id && known.account_id !== current?.account_id) offerChat(me, known);
  else if (known) openChat(known.id);
  else if (first) { askFirst(me, first); live.start(first); }
  else askFirst(me);
}

/// The chat this tab was in, and the company it is for.
function knownChat() {
  const raw = sessionStorage.getItem("rapport.widget.case");
  if (!raw) return null;
  try { return JSON.parse(raw); } catch { return { id: raw }; }
}

/// The chat of this tab is another company's than the one the person now
/// acts for (they switched in the portal): continue it there, or start a
/// new one for the company they act for.
function offerChat(me, known) {
  const company = me.memberships.find((m) => m.account_id === known.account_id);
  if (!company) { sessionStorage.removeItem("rapport.widget.case"); askFirst(me); return; }
  const err = h("p", { class: "error", role: "alert" });
  show(h("div", { class: "card" },
    h("p", {}, `Your chat is with the ${company.account_name} team, and you now act for ${me.memberships.find((m) => m.current)?.account_name}.`),
    h("div", { class: "row" },
      h("button", { type: "button", id: "w-continue", onclick: async () => {
        try { await api.switchAccount(company.account_id); live.close(); location.reload(); } catch (e) { err.textContent = e.message; }
      } }, `Continue the ${company.account_name} chat`),
      h("button", { type: "button", class: "secondary", id: "w-new-chat", onclick: () => {
        sessionStorage.removeItem("rapport.widget.case");
        askFirst(me);
      } }, "Start a new chat")),
    err));
}

function signIn(message = "") {
  const err = h("p", { class: "error", role: "alert" }, message);
  const email = h("input", { id: "w-email", type: "email", autocomplete: "email", required: true });
  const code = h("input", { id: "w-code", autocomplete: "one-time-code", maxlength: "9", placeholder: "ABCD-EFGH", autocapitalize: "characters", spellcheck: "false", required: true });
  const codeForm = h("form", { hidden: true, onsubmit: async (ev) => {
    ev.preventDefault();
    try { api.tokens = await api.post("/api/v1/auth/contact/code", { email: email.value, code: code.value }); location.reload(); }
    catch (e) { err.textContent = e.message; }
  } }, h("label", { for: "w-code" }, "The 8-character code from the email"), code, h("p"), h("button", { type: "submit", id: "w-code-go" }, "Sign in"));
  show(h("div", { class: "card" },
    h("p", {}, "Sign in with your work email address to chat with your support team."),
    h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      await api.post("/api/v1/auth/contact/magic-link", { email: email.value, account_id: Api.lastCompany }).catch(() => {});
      codeForm.hidden = false;
      err.textContent = "";
      code.focus();
    } }, h("label", { for: "w-email" }, "Email address"), email, h("p"), h("button", { type: "submit", id: "w-send" }, "Email me a sign-in code")),
    codeForm, err));
}

/// The first question; `sent`: asked already (before switching to the
/// company it is for), shown while the chat starts.
function askFirst(me, sent = "") {
  const text = h("textarea", { id: "w-first", "aria-label": "Your question", required: true, rows: "3" });
  text.value = sent;
  text.disabled = Boolean(sent);
  // A chat becomes a case of one company: a person of several says which.
  const current = me.memberships.find((m) => m.current);
  const forCompany = me.memberships.length > 1
    ? h("select", { id: "w-company", "aria-required": "true" }, h("option", { value: "" }, "Choose…"),
      ...me.memberships.map((m) => h("option", { value: m.account_id }, m.account_name)))
    : null;
  const form = h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    if (!text.value.trim()) return;
    const err = document.getElementById("w-error");
    if (forCompany && !forCompany.value) { err.textContent = "Choose the company this is about."; forCompany.focus(); return; }
    if (forCompany && forCompany.value !== current.account_id) {
      try { await api.switchAccount(forCompany.value); } catch (e) { err.textContent = e.message; return; }
      sessionStorage.setItem("rapport.widget.first", text.value);
      live.close();
      location.reload();
      return;
    }
    live.start(text.value);
    text.disabled = true;
  } },
  ...(forCompany ? [h("label", { for: "w-company" }, "For which company?"), forCompany] : []),
  h("label", { for: "w-first" }, "How can we help?"), text,
  h("p", { class: "meta hint" }, "Enter sends, Shift+Enter starts a new line."),
  h("button", { type: "submit", id: "w-start" }, "Start chat"),
  h("p", { class: "error", role: "alert", id: "w-error" }));
  text.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); form.requestSubmit(); }
  });
  show(form);
  text.focus();
}

/// A resolved chat asks for a rating, once, right in the widget.
async function rate(c) {
  if (!chat || (c.status !== "resolved" && c.status !== "closed")) { chat?.rating.replaceChildren(); return; }
  const path = `/api/v1/cases/${c.id}/satisfaction`;
  const survey = await api.get(path).catch(() => null);
  if (!survey || !chat) return;
  chat.rating.replaceChildren(ratingForm(survey, (rating, comment) => api.post(path, { rating, comment, via: "chat" })));
}

function triage(c) {
  if (!chat) return;
  rate(c);
  chat.choices.replaceChildren(...(c.category ? [] : (instance.categories || []).map((cat) =>
    h("button", { type: "button", class: "secondary", "data-category": cat, onclick: () => live.raw({ type: "category", case_id: chat.id, category: cat }) }, cat))));
}

function openChat(id) {
  sessionStorage.setItem("rapport.widget.case", JSON.stringify({ id, account_id: acting?.account_id }));
  const list = h("ol", { class: "thread", "aria-label": "Conversation" });
  chat = {
    id,
    thread: new Thread(list, () => [], api),
    team: h("div", { class: "people", role: "group", "aria-label": "Your team online" }),
    choices: h("div", { class: "choices", "aria-label": "Topic" }),
    typing: h("p", { class: "typing", "aria-live": "polite" }),
    notice: h("p", { class: "notice", role: "status" }),
    error: h("p", { class: "error", role: "alert" }),
    rating: h("div", { id: "w-rating" }),
  };
  const box = composer({
    id: "w-reply", label: "Your message",
    onTyping: (active) => live.typing(id, active),
    onSend: async ({ text, files }) => {
      if (!files.length) { live.send(id, text); return; }
      const posted = await api.upload(`/api/v1/cases/${id}/attachments`, { kind: "chat", body: text, client_message_id: crypto.randomUUID() }, files);
      chat.thread.put(posted.entry);
    },
  });
  const company = several && acting ? h("p", { class: "meta", id: "w-company-line" }, `Chat for ${acting.account_name}`) : "";
  show(h("div", { class: "chat" }, company, chat.team, list, chat.choices, chat.rating, chat.typing, chat.notice, box.form, chat.error));
  box.focus();
  live.join(id);
}

start().catch((e) => show(h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : String(e))));
