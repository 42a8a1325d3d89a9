// The JSON API with the signed-in person's tokens. One sign-in serves
// every page and tab of the browser: the staff pages (console, admin,
// auditor) share one session, the client pages (portal, chat widget)
// another, kept in localStorage until sign-out or expiry. Tokens travel
// only in the Authorization header: no cookies, so no cross-site request
// can act as the user. The refresh token rotates at every use; tabs take
// turns (a Web Lock) and a tab that waited uses the tokens the other one
// got, so concurrent refreshes never look like a stolen token.

const SESSIONS = { console: "staff", admin: "staff", auditor: "staff", welcome: "staff", portal: "contact", widget: "contact" };

const LAST_COMPANY = "rapport.contact.company";

export class Api {
  constructor(app) {
    this.key = `rapport.session.${SESSIONS[app] || app}`;
  }

  get tokens() {
    const raw = localStorage.getItem(this.key);
    return raw ? JSON.parse(raw) : null;
  }

  set tokens(value) {
    if (value) localStorage.setItem(this.key, JSON.stringify(value));
    else localStorage.removeItem(this.key);
  }

  /// Calls `then` when another tab signs out or signs in (a refresh in
  /// another tab keeps the session and changes nothing here).
  onSessionChange(then) {
    window.addEventListener("storage", (ev) => {
      if (ev.key !== this.key) return;
      // A person of several companies who switched in another tab acts
      // for another company now: this tab's page is of the old one.
      const company = (v) => (v ? JSON.parse(v).account_id : undefined);
      if (!ev.oldValue || !ev.newValue || company(ev.oldValue) !== company(ev.newValue)) then();
    });
  }

  get signedIn() {
    return Boolean(this.tokens);
  }

  async request(method, path, body, retried = false) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const t = this.tokens;
    if (t) headers.Authorization = `Bearer ${t.access_token}`;
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 401 && t && !retried) {
      const problem = await res.json().catch(() => ({}));
      if (problem.code === "token_expired" && (await this.refresh())) {
        return this.request(method, path, body, true);
      }
      this.tokens = null;
      throw new ApiError(problem.detail || "Please sign in again.", problem.code || "unauthenticated", 401);
    }
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) throw new ApiError(data?.detail || res.statusText, data?.code || "error", res.status, data?.field);
    return data;
  }

  async refresh() {
    const stale = this.tokens?.access_token;
    const turn = async () => {
      const t = this.tokens;
      // Another tab refreshed while this one waited: use its tokens.
      if (t && t.access_token !== stale) return true;
      if (!t?.refresh_token) return false;
      const res = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: t.refresh_token }),
      });
      if (!res.ok) return false;
      this.tokens = { ...(await res.json()), account_id: t.account_id };
      return true;
    };
    return navigator.locks ? navigator.locks.request(`${this.key}.refresh`, turn) : turn();
  }

  /// A person who is a contact of several companies acts for another of
  /// them: the refresh token is exchanged, in turn with refreshes, for
  /// tokens of their contact there. The company is remembered for their
  /// next sign-in.
  async switchAccount(accountId) {
    const turn = async () => {
      const t = this.tokens;
      const res = await fetch("/api/v1/auth/contact/switch", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: t?.refresh_token || "", account_id: accountId }),
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new ApiError(data.detail || res.statusText, data.code || "error", res.status);
      this.tokens = { ...data, account_id: accountId };
      localStorage.setItem(LAST_COMPANY, accountId);
    };
    return navigator.locks ? navigator.locks.request(`${this.key}.refresh`, turn) : turn();
  }

  /// The company a person of several last acted for: where their next
  /// sign-in starts.
  static get lastCompany() {
    return localStorage.getItem(LAST_COMPANY) || undefined;
  }

  /// A file the API serves (exports, attachments, calendars), as a Blob.
  async blob(path) {
    const res = await fetch(path, { headers: { Authorization: `Bearer ${this.tokens?.access_token}` } });
    if (!res.ok) {
      const p = await res.json().catch(() => ({}));
      throw new ApiError(p.detail || res.statusText, p.code || "error", res.status);
    }
    return res.blob();
  }

  /// Downloads a file the API serves under `filename`.
  async save(path, filename) {
    const url = URL.createObjectURL(await this.blob(path));
    h("a", { href: url, download: filename }).click();
    URL.revokeObjectURL(url);
  }

  /// Posts text fields and files as multipart/form-data (thread entries
  /// with attachments); returns the JSON answer.
  async upload(path, fields, files) {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== null && v !== "") form.append(k, v);
    for (const f of files) form.append("file", f, f.name || "pasted-image.png");
    const send = () => fetch(path, { method: "POST", headers: { Authorization: `Bearer ${this.tokens?.access_token}` }, body: form });
    let res = await send();
    if (res.status === 401 && (await this.refresh())) res = await send();
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new ApiError(data.detail || res.statusText, data.code || "error", res.status, data.field);
    return data;
  }

  get(path) { return this.request("GET", path); }
  post(path, body = {}) { return this.request("POST", path, body); }
  patch(path, body) { return this.request("PATCH", path, body); }
  put(path, body) { return this.request("PUT", path, body); }
  del(path) { return this.request("DELETE", path); }

  async signOut() {
    const t = this.tokens;
    if (t) await this.post("/api/v1/auth/logout", { refresh_token: t.refresh_token }).catch(() => {});
    this.tokens = null;
  }
}

export class ApiError extends Error {
  constructor(message, code, status, field) {
    super(message);
    this.code = code;
    this.status = status;
    this.field = field;
  }
}

/// Builds elements without ever parsing data as HTML.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/// A search snippet with its matched words highlighted (`<mark>`).
export function highlighted(item) {
  if (!item.snippet_parts) return h("span", { class: "meta snippet" }, item.snippet || "");
  return h("span", { class: "meta snippet" }, ...item.snippet_parts.map((p) => (p.match ? h("mark", {}, p.text) : p.text)));
}

export function avatar(person) {
  const a = person?.avatar || { initials: "?", color: "#777" };
  const el = h("span", { class: "avatar", "aria-hidden": "true" }, a.initials);
  el.style.background = a.color;
  return el;
}

export function when(iso) {
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function uuid() {
  return crypto.randomUUID();
}

/// Where each staff role works, and the session key of that page.
export function pageForRole(role) {
  if (role === "admin") return { path: "/admin", app: "admin" };
  if (role === "auditor") return { path: "/auditor", app: "auditor" };
  return { path: "/console", app: "console" };
}

/// A new password typed twice; `value()` gives it or says what is wrong.
export function passwordFields(prefix) {
  const first = h("input", { id: `${prefix}-new-password`, type: "password", autocomplete: "new-password", minlength: "12", required: true });
  const again = h("input", { id: `${prefix}-new-password-again`, type: "password", autocomplete: "new-password", minlength: "12", required: true });
  return {
    nodes: [h("label", { for: first.id }, "New password (at least 12 characters)"), first,
      h("label", { for: again.id }, "The same password again"), again],
    value() {
      if (first.value.length < 12) return { error: "The password needs at least 12 characters." };
      if (first.value !== again.value) return { error: "The two passwords differ; type the same one twice." };
      return { password: first.value };
    },
  };
}

/// After signing in with a one-time password: choose one's own, in place.
function choosePassword(api, session, done) {
  const err = h("p", { class: "error", role: "alert" });
  const fields = passwordFields("c");
  return h("form", { class: "card", id: "choose-password", onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const chosen = fields.value();
    if (chosen.error) { err.textContent = chosen.error; return; }
    try {
      api.tokens = session;
      done(await api.post("/api/v1/me/password", { new_password: chosen.password }));
    } catch (e) { api.tokens = null; err.textContent = e.message; }
  } },
  h("h2", {}, "Choose your own password"),
  h("p", {}, "You signed in with a one-time password. Choose the password you will use from now on; the one-time password stops working."),
  ...fields.nodes, h("p"), h("button", { type: "submit", id: "c-save" }, "Save and continue"), err);
}

/// Groups a base32 secret in fours, as authenticator apps show them.
function grouped(secret) {
  return secret.replace(/(.{4})/g, "$1 ").trim();
}

/// Setting up a second factor: the secret for an authenticator app, a
/// first code to prove it, then the recovery codes, shown once. `done`
/// runs once the person confirms they kept the codes.
export function setUpSecondFactor(api, done, intro = "") {
  const card = h("section", { class: "card", id: "second-factor" });
  const err = h("p", { class: "error", role: "alert" });
  const start = async () => {
    let setup;
    try { setup = await api.post("/api/v1/me/totp"); } catch (e) { card.replaceChildren(h("p", { class: "error", role: "alert" }, e.message)); return; }
    const code = h("input", { id: "totp-new-code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "7", required: true });
    const form = h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      try {
        const { recovery_codes } = await api.post("/api/v1/me/totp/confirm", { code: code.value });
        card.replaceChildren(
          h("h2", {}, "Two-step sign-in is on"),
          h("p", {}, "From now on, signing in asks for the code your app shows. If you lose your phone, each of these recovery codes works once instead. Keep them somewhere safe (a password manager, a printout): they are shown only now."),
          h("ul", { id: "recovery-codes", class: "codes" }, ...recovery_codes.map((c) => h("li", {}, h("code", {}, c)))),
          h("button", { type: "button", id: "recovery-saved", onclick: () => done() }, "I have kept these codes"));
        card.querySelector("#recovery-saved").focus();
      } catch (e) { err.textContent = e.message; }
    } },
    h("label", { for: "totp-new-code" }, "The six-digit code your app shows now"), code,
    h("p"), h("button", { type: "submit", id: "totp-turn-on" }, "Turn on"), err);
    card.replaceChildren(
      h("h2", {}, "Set up two-step sign-in"),
      intro ? h("p", {}, intro) : "",
      h("ol", {},
        h("li", {}, "Open an authenticator app on your phone (for example FreeOTP, Aegis, Google or Microsoft Authenticator) and add an account."),
        h("li", {}, "Choose to enter a setup key and type this key (or open the link on the phone):"),
      ),
      h("p", {}, h("code", { id: "totp-secret" }, grouped(setup.secret))),
      h("p", {}, h("a", { href: setup.otpauth_uri, id: "totp-link" }, "Open in an authenticator app")),
      form);
    code.focus();
  };
  start();
  return card;
}

/// For a session that may only set up the second factor its role requires
/// (a page reloaded midway): the setup, else nothing.
export function pendingSecondFactor(api, me) {
  if (!me.totp_enrolment_required) return null;
  return setUpSecondFactor(api, async () => { await api.refresh(); location.reload(); },
    "Your role signs in with a code from an authenticator app besides the password. Set it up now to continue.");
}

/// Two-step sign-in for the signed-in staff member: its state, and setting
/// it up when it is off.
export async function secondFactorPanel(api) {
  const status = await api.get("/api/v1/me/totp");
  const card = h("section", { class: "card", id: "two-step" });
  if (status.enabled) {
    card.append(h("h2", {}, "Two-step sign-in is on"),
      h("p", {}, `Signing in asks for the code your authenticator app shows. Recovery codes left: ${status.recovery_codes_left}.`),
      h("p", {}, "Lost your phone and your recovery codes? An administrator can turn two-step sign-in off for you, so you can set it up again."));
    return card;
  }
  card.append(h("h2", {}, "Two-step sign-in is off"),
    h("p", {}, "With it on, signing in needs the password and a code from an authenticator app on your phone: a stolen password alone no longer opens your account."),
    h("button", { type: "button", id: "two-step-start", onclick: () => card.replaceWith(setUpSecondFactor(api, () => location.reload())) }, "Set up two-step sign-in"));
  return card;
}

/// The staff sign-in form (console, admin and audit pages); reloads when
/// signed in, after a new password where the one given was one-time, a
/// code from the authenticator app where two-step sign-in is on, or
/// setting it up where the role requires it.
// Back from the identity provider: the fragment holds a one-time code to
// redeem for a session, or why signing in failed. Returns that reason.
export async function takeSingleSignOn(api) {
  const params = new URLSearchParams(location.hash.slice(1));
  const code = params.get("sso");
  const failure = params.get("sso_error");
  if (!code && !failure) return "";
  history.replaceState(null, "", location.pathname + location.search);
  if (failure) return failure;
  try {
    api.tokens = await api.post("/api/v1/auth/sso/redeem", { code });
    return "";
  } catch (e) {
    return e.message;
  }
}

export function staffSignIn(api, title, message = "") {
  const err = h("p", { class: "error", role: "alert" }, message);
  // When the organisation signs staff in through its provider, say so first.
  const sso = h("div", { id: "sso", hidden: true });
  api.get("/api/v1/auth/sso").then((offer) => {
    if (!offer.staff) return;
    const start = `/auth/sso/staff?return_to=${encodeURIComponent(location.pathname)}`;
    sso.replaceChildren(
      h("p", {}, h("a", { class: "button", id: "sso-start", href: start }, `Sign in with ${offer.staff}`)),
      h("p", { class: "meta" }, "Or with your email address and password:"));
    sso.hidden = false;
  }).catch(() => {});
  const email = h("input", { id: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "password", type: "password", autocomplete: "current-password", required: true });
  // Shown once the password is right and the account uses two-step sign-in.
  let recovery = false;
  const codeLabel = h("label", { for: "totp-code" }, "Code from your authenticator app");
  const code = h("input", { id: "totp-code", autocomplete: "one-time-code", inputmode: "numeric" });
  const switchCode = h("button", { type: "button", class: "secondary small", id: "use-recovery", onclick: () => {
    recovery = !recovery;
    codeLabel.textContent = recovery ? "One of your recovery codes" : "Code from your authenticator app";
    code.setAttribute("inputmode", recovery ? "text" : "numeric");
    switchCode.textContent = recovery ? "Use the app's code instead" : "Use a recovery code instead";
    code.value = "";
    code.focus();
  } }, "Use a recovery code instead");
  const second = h("div", { id: "second-step", hidden: true }, codeLabel, code, h("p", {}, switchCode));
  const signedIn = (t) => {
    if (t.password_change_required) {
      form.replaceWith(choosePassword(api, t, (fresh) => { api.tokens = fresh; location.reload(); }));
      return;
    }
    api.tokens = t;
    if (t.totp_enrolment_required) {
      form.replaceWith(setUpSecondFactor(api, async () => { await api.refresh(); location.reload(); },
        "Your role signs in with a code from an authenticator app besides the password. Set it up now to continue."));
      return;
    }
    location.reload();
  };
  const form = h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const body = { email: email.value, password: password.value };
    if (!second.hidden && code.value.trim()) body[recovery ? "recovery_code" : "totp_code"] = code.value.trim();
    try {
      signedIn(await api.post("/api/v1/auth/login", body));
    } catch (e) {
      if (e.code === "totp_required") {
        second.hidden = false;
        code.required = true;
        err.textContent = "Now type the code your authenticator app shows.";
        code.focus();
        return;
      }
      err.textContent = e.message;
    }
  } },
  h("h2", {}, title),
  sso,
  h("label", { for: "email" }, "Email address"), email,
  h("label", { for: "password" }, "Password"), password,
  second,
  h("p"), h("button", { type: "submit" }, "Sign in"), err);
  return form;
}
