// The client portal: a contact's company cases, opening a case, and each
// case's thread with live chat and who of the team is helping.

import { Api, ApiError, h, avatar, when, highlighted, takeSingleSignOn } from "./api.js";
import { Live } from "./live.js";
import { Thread } from "./thread.js";
import { composer } from "./composer.js";
import { knowledgeBrowser, articleView } from "./knowledge.js";
import { ratingForm } from "./rating.js";
import { appointmentsSection } from "./appointments.js";

const api = new Api("portal");
const app = document.getElementById("app");
let me = null;
let instance = null;
let live = null;
let current = null; // { id, thread, ... }

function show(...nodes) {
  app.replaceChildren(...nodes);
}

function errorBox() {
  return h("p", { class: "error", role: "alert" });
}

async function start() {
  instance = await api.get("/api/v1/instance");
  document.getElementById("desk").textContent = `${instance.name} support`;
  document.title = `${instance.name} support`;
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (token) {
    history.replaceState(null, "", "/portal");
    try {
      api.tokens = await api.post("/api/v1/auth/contact/magic-link/redeem", { token });
    } catch (e) {
      return signIn("This sign-in link is used or expired. Ask for a new one.");
    }
  }
  const ssoFailure = await takeSingleSignOn(api);
  if (!api.signedIn) return signIn(ssoFailure);
  try {
    me = await api.get("/api/v1/me");
  } catch {
    return signIn();
  }
  api.onSessionChange(() => location.reload());
  document.getElementById("who").replaceChildren(
    companyChooser(),
    h("span", {}, avatar(me), me.display_name, " "),
    h("button", { type: "button", onclick: async () => { live?.close(); await api.signOut(); location.reload(); } }, "Sign out"));
  live = new Live(api, {
    backlog: (f) => { if (current?.id === f.case_id) { f.entries.forEach((e) => current.thread.put(e)); setCase(f.case); } },
    message: (e) => {
      if (current?.id !== e.case_id) { loadCases(); return; }
      current.thread.put(e);
      current.thread.complete(e.case_id, e);
      if (document.visibilityState === "visible") live.read(e.case_id, e.id);
      current.typing.textContent = "";
      // Scheduling steps are written to the thread as events.
      if (e.kind === "event") current.appointments?.refresh();
    },
    entry_updated: (f) => { if (current?.id === f.entry.case_id) current.thread.put(f.entry); },
    presence: (f) => { if (current?.id === f.case_id) showHelpers(f.team_online); },
    typing: (f) => { if (current?.id === f.case_id) showTyping(f); },
    notice: (f) => { if (current?.id === f.case_id) current.notice.textContent = f.text; },
    case_updated: (f) => { if (current?.id === f.case.id) setCase(f.case); loadCases(); },
    error: (f) => { if (current) current.error.textContent = f.message; },
  });
  await live.connect();
  home();
}

/// The company this session acts for, one of several.
function company() {
  return me.memberships.find((m) => m.current);
}

/// Acts for another of the person's companies: everything on the page is
/// the other company's, so the page starts again.
async function actFor(accountId, then) {
  await api.switchAccount(accountId);
  if (then) sessionStorage.setItem("rapport.portal.open", then);
  live?.close();
  location.reload();
}

/// For a person who is a contact of several companies: which one they act
/// for now, and the others to switch to.
function companyChooser() {
  if (me.memberships.length < 2) return "";
  const select = h("select", { id: "company", "aria-label": "Acting for" },
    ...me.memberships.map((m) => h("option", { value: m.account_id, selected: m.current }, m.account_name)));
  select.addEventListener("change", () => actFor(select.value).catch((e) => {
    select.value = company().account_id;
    alert(e.message);
  }));
  return h("label", { class: "company", for: "company" }, "Acting for ", select, " ");
}

function signIn(message = "") {
  const err = errorBox();
  err.textContent = message;
  const email = h("input", { id: "email", type: "email", autocomplete: "email", required: true });
  const password = h("input", { id: "password", type: "password", autocomplete: "current-password" });
  // A company that signs its people in with its own account: offered (or,
  // when it requires it, the only way) as soon as the address is known.
  const sso = h("div", { id: "sso", hidden: true });
  const usual = h("div", { id: "usual-sign-in" });
  const offerCompanySignIn = async () => {
    const address = email.value.trim();
    if (!address.includes("@")) { sso.hidden = true; usual.hidden = false; return; }
    const offer = await api.get(`/api/v1/auth/sso/contact?email=${encodeURIComponent(address)}`).catch(() => ({}));
    if (!offer.label) { sso.hidden = true; usual.hidden = false; return; }
    const start = `/auth/sso/contact?email=${encodeURIComponent(address)}&return_to=/portal`;
    sso.replaceChildren(
      h("p", {}, offer.required ? "Your company signs you in with its own account." : "Your company can sign you in with its own account."),
      h("p", {}, h("a", { class: "button", id: "sso-start", href: start }, `Sign in with ${offer.label}`)));
    sso.hidden = false;
    usual.hidden = Boolean(offer.required);
  };
  email.addEventListener("change", offerCompanySignIn);
  email.addEventListener("blur", offerCompanySignIn);
  const form = h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      api.tokens = await api.post("/api/v1/auth/contact/login", { email: email.value, password: password.value, account_id: Api.lastCompany });
      location.reload();
    } catch (e) { err.textContent = e.message; }
  } },
  h("h2", {}, "Sign in"),
  h("label", { for: "email" }, "Email address"), email,
  sso, usual, err);
  usual.append(
    h("label", { for: "password" }, "Password"), password,
    h("div", { class: "row" },
      h("button", { type: "submit" }, "Sign in"),
      h("button", { type: "button", class: "secondary", onclick: async () => {
        if (!email.value) { err.textContent = "Enter your email address first."; return; }
        await api.post("/api/v1/auth/contact/magic-link", { email: email.value, account_id: Api.lastCompany }).catch(() => {});
        err.textContent = "";
        form.append(h("p", { role: "status" }, "If this address belongs to a contact, a sign-in link is on its way."));
      } }, "Email me a sign-in link")));
  show(form);
}

let casesList = null;

function home() {
  casesList = h("ul", { class: "cases", "aria-label": "Cases" });
  const several = me.memberships.length > 1;
  const side = h("section", { class: "card", "aria-labelledby": "cases-h" },
    h("h2", { id: "cases-h" }, several ? `Your cases at ${company().account_name}` : "Your cases"),
    several ? h("p", { class: "meta", id: "company-address" }, `Email for ${company().account_name}: `,
      h("a", { href: `mailto:${company().mail_address}` }, company().mail_address)) : "",
    h("div", { class: "row" },
      h("button", { type: "button", id: "new-case", onclick: openForm }, "Open a case"),
      h("button", { type: "button", class: "secondary", id: "help", onclick: openHelp }, "Help articles"),
      h("button", { type: "button", class: "secondary", id: "email-settings", onclick: openEmailSettings }, "Email about cases")),
    h("p"), casesList);
  const pane = h("section", { id: "pane", class: "card" }, h("p", {}, "Choose a case, or open a new one."));
  show(h("div", { class: "grid" }, side, pane));
  loadCases();
  // A case just opened for another company, after switching to it.
  const opened = sessionStorage.getItem("rapport.portal.open");
  sessionStorage.removeItem("rapport.portal.open");
  if (opened) openCase(opened);
}

async function loadCases() {
  if (!casesList) return;
  const page = await api.get("/api/v1/cases?limit=100");
  casesList.replaceChildren(...page.items.map((c) => h("li", {},
    h("button", { type: "button", "aria-current": current?.id === c.id ? "true" : "false", "data-case": c.id, onclick: () => openCase(c.id) },
      h("strong", {}, `${c.reference} ${c.subject}`), h("br"),
      h("span", { class: "meta" }, `${c.status.replace("_", " ")} · ${c.opened_by_contact_id === me.id ? "opened by you" : `opened by ${c.opened_by_name || "your support team"}`} · last activity ${when(c.last_activity_at)}`)))));
}

// Cases started elsewhere (a chat on the company's site, an email, a
// colleague) appear without a reload.
setInterval(() => { if (document.visibilityState === "visible") loadCases().catch(() => {}); }, 10_000);
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") loadCases().catch(() => {}); });

const NOTICE_CHOICES = [
  ["each", "An email for each case opened or resolved"],
  ["digest", "One email a day listing them"],
  ["off", "No such emails"],
];

/// How the contact hears of their colleagues' cases that concern their
/// function (their own cases always answer them by email).
function openEmailSettings() {
  if (current) live.leave(current.id);
  current = null;
  const status = h("p", { role: "status", id: "email-settings-status" });
  const err = errorBox();
  const sees = me.visibility === "own_cases"
    ? h("p", { class: "meta" }, "You see the cases you opened or take part in; your support team can let you see your colleagues' cases too.")
    : null;
  const choices = NOTICE_CHOICES.map(([value, label]) => h("label", { for: `notices-${value}` },
    h("input", { type: "radio", name: "notices", id: `notices-${value}`, value, checked: me.case_notices === value }), ` ${label}`));
  document.getElementById("pane").replaceChildren(h("form", { id: "email-settings-form", onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const chosen = document.querySelector("input[name=notices]:checked")?.value;
    try {
      me = await api.put("/api/v1/me/case-notices", { case_notices: chosen });
      status.textContent = `Saved: ${NOTICE_CHOICES.find(([v]) => v === me.case_notices)[1].toLowerCase()}.`;
    } catch (e) { err.textContent = e.message; }
  } },
  h("h2", {}, "Email about cases"),
  h("p", {}, `When a case about ${me.function === "other" ? "your area" : me.function} is opened or resolved at your company, how should we tell you?`),
  sees,
  h("fieldset", {}, h("legend", {}, "Tell me"), ...choices.map((c) => h("p", {}, c))),
  h("button", { type: "submit", id: "email-settings-save" }, "Save"), status, err));
}

function openHelp() {
  if (current) live.leave(current.id);
  current = null;
  knowledgeBrowser(api, document.getElementById("pane"));
}

/// Articles matching the subject being typed, asked for once typing pauses.
function suggestions(subject) {
  const box = h("div", { class: "suggestions", id: "suggestions", "aria-live": "polite" });
  const state = { id: null };
  let timer = null;
  let asked = "";
  subject.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = subject.value.trim();
      if (q.length < 3 || q === asked) return;
      asked = q;
      const s = await api.get(`/api/v1/kb/suggest?q=${encodeURIComponent(q)}`).catch(() => null);
      if (!s || subject.value.trim() !== q) return;
      state.id = s.suggestion_id;
      box.replaceChildren(...(s.articles.length ? [
        h("p", { class: "meta" }, "These articles may answer your question:"),
        h("ul", {}, ...s.articles.map((a) => h("li", {},
          h("button", { type: "button", class: "secondary small", "data-suggested": a.id, onclick: async () => {
            const full = await api.get(`/api/v1/kb/articles/${a.id}`);
            box.replaceChildren(articleView(full),
              h("div", { class: "row" },
                h("button", { type: "button", id: "deflect", onclick: async () => {
                  await api.post(`/api/v1/kb/suggestions/${state.id}/deflect`, { article_id: a.id }).catch(() => {});
                  document.getElementById("pane").replaceChildren(h("h2", {}, "Glad that helped"),
                    h("p", {}, "No case was opened. You can always open one if something is still unclear."));
                } }, "This answered my question"),
                h("button", { type: "button", class: "secondary", onclick: () => { asked = ""; subject.dispatchEvent(new Event("input")); } }, "Back to the suggestions")));
          } }, a.title), " ", highlighted(a)))),
      ] : []));
    }, 350);
  });
  return { box, state };
}

function openForm() {
  if (current) live.leave(current.id);
  current = null;
  const err = errorBox();
  const category = h("select", { id: "category" }, h("option", { value: "" }, "Choose…"),
    ...(instance.categories || []).map((c) => h("option", { value: c }, c)));
  const subject = h("input", { id: "subject", required: true, maxlength: "200" });
  const body = h("textarea", { id: "body", required: true });
  const files = h("input", { id: "files", type: "file", multiple: true });
  // A case belongs to one company: a person of several says which, every
  // time, rather than the form guessing.
  const several = me.memberships.length > 1;
  const forCompany = several
    ? h("select", { id: "case-company", "aria-required": "true" }, h("option", { value: "" }, "Choose…"),
      ...me.memberships.map((m) => h("option", { value: m.account_id }, m.account_name)))
    : null;
  forCompany?.addEventListener("change", () => { err.textContent = ""; });
  const suggested = suggestions(subject);
  // One request id for retries of this form: a resend opens no second case.
  const requestId = crypto.randomUUID();
  document.getElementById("pane").replaceChildren(h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      if (forCompany && !forCompany.value) { err.textContent = "Choose the company this case is for."; forCompany.focus(); return; }
      // Acting for the other company first: the case is opened as its
      // contact. The session may already act for it (a switch before a
      // failed attempt): compare with the session, not the page.
      const acting = api.tokens?.account_id || company().account_id;
      const switching = forCompany && forCompany.value !== company().account_id;
      if (forCompany && forCompany.value !== acting) await api.switchAccount(forCompany.value);
      const fields = { subject: subject.value, body: body.value, category: category.value || undefined, client_message_id: requestId, kb_suggestion_id: suggested.state.id || undefined };
      // Files travel with the first message, not as a message of their own.
      const opened = files.files.length
        ? await api.upload("/api/v1/cases/with-files", fields, [...files.files])
        : await api.post("/api/v1/cases", fields);
      if (switching) {
        // The page is the other company's now: it starts again there.
        sessionStorage.setItem("rapport.portal.open", opened.case.id);
        live?.close();
        location.reload();
        return;
      }
      await loadCases();
      openCase(opened.case.id);
    } catch (e) { err.textContent = e.message; }
  } },
  h("h2", {}, "Open a case"),
  ...(several ? [h("label", { for: "case-company" }, "For which company?"), forCompany] : []),
  h("label", { for: "category" }, "What is it about?"), category,
  h("label", { for: "subject" }, "Subject"), subject, suggested.box,
  h("label", { for: "body" }, "Your message"), body,
  h("label", { for: "files" }, "Files (optional)"), files,
  h("p"), h("button", { type: "submit" }, "Open the case"), err));
}

function setCase(c) {
  if (!current) return;
  current.title.textContent = `#${c.number} ${c.subject}`;
  current.status.textContent = `Status: ${c.status.replace("_", " ")}${c.team ? ` · ${c.team} team` : ""}`;
  showRating(c);
}

/// A colleague's case the contact sees: they may follow it by email (and
/// stop). Their own cases always come by email.
function showFollow(detail) {
  const box = current?.follow;
  if (!box) return;
  if (detail.opened_by_contact_id === me.id) { box.replaceChildren(); return; }
  const following = (detail.participant_ids || []).includes(me.id);
  box.replaceChildren(
    h("span", { class: "meta" }, following ? "You receive this case's replies by email. " : "Not your case: its replies do not come to you by email. "),
    h("button", { type: "button", class: "secondary small", id: "follow-toggle", onclick: async () => {
      try {
        if (following) await api.del(`/api/v1/cases/${detail.id}/participants/${me.id}`);
        else await api.post(`/api/v1/cases/${detail.id}/participants`, { contact_id: me.id });
        const now = await api.get(`/api/v1/cases/${detail.id}`).catch(() => null);
        if (now) { showFollow(now); return; }
        // Taking part was what let them see it.
        live.leave(detail.id);
        current = null;
        document.getElementById("pane").replaceChildren(h("p", { role: "status" }, "You no longer take part in this case."));
        loadCases();
      } catch (e) { current.error.textContent = e.message; }
    } }, following ? "Stop following by email" : "Follow by email"));
}

/// Resolved and closed cases ask for a rating, once.
async function showRating(c) {
  const box = current?.rating;
  if (!box) return;
  if (c.status !== "resolved" && c.status !== "closed") { box.replaceChildren(); return; }
  const path = `/api/v1/cases/${c.id}/satisfaction`;
  const survey = await api.get(path).catch(() => null);
  if (!survey || current?.rating !== box) return;
  box.replaceChildren(h("h3", {}, "Rate this case"), ratingForm(survey, (rating, comment) => api.post(path, { rating, comment, via: "portal" })));
}

function showHelpers(people) {
  if (people.length) current.notice.textContent = "";
  current.helpers.replaceChildren(...(people.length
    ? people.map((p) => h("span", { class: "online" }, avatar(p), p.name))
    : [h("span", { class: "meta" }, "No one from the team is online right now; answers also come by email.")]));
}

let typingTimer = null;
function showTyping(f) {
  current.typing.textContent = f.active ? `${f.who.name} is typing…` : "";
  clearTimeout(typingTimer);
  if (f.active) typingTimer = setTimeout(() => { if (current) current.typing.textContent = ""; }, 6000);
}

async function openCase(id) {
  if (current) live.leave(current.id);
  const list = h("ol", { class: "thread", "aria-label": "Conversation" });
  current = {
    id,
    thread: new Thread(list, () => [], api),
    title: h("h2", {}),
    status: h("p", { class: "meta" }),
    helpers: h("div", { class: "people", role: "group", "aria-label": "Who is helping" }),
    typing: h("p", { class: "typing", "aria-live": "polite" }),
    notice: h("p", { class: "notice", role: "status" }),
    rating: h("section", { class: "rating-box", id: "rating" }),
    follow: h("p", { class: "row", id: "follow" }),
    error: errorBox(),
  };
  const c = current;
  const form = composer({
    id: "reply", label: "Your message", enterSends: false,
    onTyping: (active) => live.typing(id, active),
    onSend: async ({ text, files }) => {
      if (!files.length) { live.send(id, text); return; }
      const posted = await api.upload(`/api/v1/cases/${id}/attachments`, { kind: "portal", body: text, client_message_id: crypto.randomUUID() }, files);
      c.thread.put(posted.entry);
    },
  }).form;
  c.appointments = appointmentsSection(api, id, "contact");
  document.getElementById("pane").replaceChildren(c.title, c.status, c.follow, c.rating,
    h("h3", {}, "Helping you"), c.helpers, list, c.typing, c.notice, form, c.error, c.appointments);
  c.notice.textContent = "";
  const detail = await api.get(`/api/v1/cases/${id}`);
  setCase(detail);
  showFollow(detail);
  const entries = await api.get(`/api/v1/cases/${id}/entries?limit=200`);
  entries.items.forEach((e) => c.thread.put(e));
  live.join(id);
  if (entries.items.length) setTimeout(() => live.read(id, entries.items[entries.items.length - 1].id), 500);
  loadCases();
}

start().catch((e) => show(h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : String(e))));
