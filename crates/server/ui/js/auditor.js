// The auditor's page: export a case's or an account's audit log (JSON
// Lines, CSV) or evidence bundle, and verify an export or bundle file
// against this installation's audit key.

import { Api, ApiError, staffSignIn, pendingSecondFactor, takeSingleSignOn, h } from "./api.js";

const api = new Api("auditor");
const app = document.getElementById("app");

function show(...nodes) { app.replaceChildren(...nodes); }

async function start() {
  const instance = await api.get("/api/v1/instance");
  document.getElementById("desk").textContent = `${instance.name} · audit`;
  const ssoFailure = await takeSingleSignOn(api);
  if (!api.signedIn) return signIn(ssoFailure);
  let me;
  try { me = await api.get("/api/v1/me"); } catch { return signIn(); }
  const pending = pendingSecondFactor(api, me);
  if (pending) return app.replaceChildren(pending);
  if (me.kind !== "staff" || !["auditor", "admin"].includes(me.role)) {
    // Without ending the session the other pages use.
    return app.replaceChildren(h("section", { class: "card" }, h("h2", {}, "This page is for auditors and admins"),
      h("p", {}, `You are signed in as ${me.display_name}.`),
      h("p", {}, h("a", { href: "/console" }, "Go to the console"), " · ",
        h("button", { type: "button", class: "secondary", onclick: async () => { await api.signOut(); location.reload(); } }, "Sign in as someone else"))));
  }
  api.onSessionChange(() => location.reload());
  document.getElementById("who").replaceChildren(
    h("span", {}, `${me.display_name} (${me.role}) `),
    h("button", { type: "button", onclick: async () => { await api.signOut(); location.reload(); } }, "Sign out"));
  home();
}

function signIn(message = "") {
  show(staffSignIn(api, "Auditor sign-in", message));
}

/// Fetches with the bearer token and returns the response body as a Blob.
async function verifyBlob(blob, out) {
  out.replaceChildren(h("p", {}, "Verifying…"));
  const res = await fetch("/api/v1/audit/verify", {
    method: "POST",
    headers: { Authorization: `Bearer ${api.tokens.access_token}`, "Content-Type": "application/octet-stream" },
    body: blob,
  });
  const r = await res.json();
  if (!res.ok) { out.replaceChildren(h("p", { class: "error", role: "alert" }, r.detail || "Verification failed")); return; }
  out.replaceChildren(h("p", { id: "verify-result", class: r.ok ? "" : "error", role: "status" },
    r.ok ? `Verified: ${r.summary}` : `NOT VERIFIED (${r.kind}): ${r.summary}`));
}

async function home() {
  const [cases, accounts] = await Promise.all([api.get("/api/v1/cases?limit=200"), api.get("/api/v1/accounts?limit=200")]);
  const target = h("select", { id: "target" },
    h("optgroup", { label: "Cases" }, ...cases.items.map((c) => h("option", { value: `case=${c.id}`, "data-number": c.number }, `${c.reference} ${c.subject}`))),
    h("optgroup", { label: "Accounts" }, ...accounts.items.map((a) => h("option", { value: `account=${a.id}` }, a.name))));
  const format = h("select", { id: "format" },
    h("option", { value: "jsonl" }, "Audit log, JSON Lines"),
    h("option", { value: "csv" }, "Audit log, CSV"),
    h("option", { value: "bundle" }, "Evidence bundle (ZIP)"));
  const result = h("div", { id: "export-result", "aria-live": "polite" });
  const err = h("p", { class: "error", role: "alert" });
  const exportForm = h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    result.replaceChildren(h("p", {}, "Exporting…"));
    try {
      const path = format.value === "bundle"
        ? `/api/v1/audit/bundle?${target.value}`
        : `/api/v1/audit/export?${target.value}&format=${format.value}`;
      const blob = await api.blob(path);
      const name = `${target.value.replace("=", "-")}.${format.value === "bundle" ? "zip" : format.value}`;
      const url = URL.createObjectURL(blob);
      const verified = h("div");
      result.replaceChildren(
        h("p", {}, h("a", { id: "download", href: url, download: name }, `Download ${name}`), ` (${Math.ceil(blob.size / 1024)} KiB)`),
        h("button", { type: "button", id: "verify-export", onclick: () => verifyBlob(blob, verified) }, "Verify this file"),
        verified);
    } catch (e) { result.replaceChildren(); err.textContent = e.message; }
  } },
  h("h2", {}, "Export"),
  h("label", { for: "target" }, "Case or account"), target,
  h("label", { for: "format" }, "What"), format,
  h("p"), h("button", { type: "submit", id: "export" }, "Export"), err, result);
  const file = h("input", { id: "file", type: "file", accept: ".jsonl,.csv,.zip" });
  const checked = h("div", { "aria-live": "polite" });
  const verifyForm = h("form", { class: "card", onsubmit: (ev) => {
    ev.preventDefault();
    if (file.files[0]) verifyBlob(file.files[0], checked);
  } },
  h("h2", {}, "Verify a file"),
  h("p", { class: "meta" }, "An audit export or evidence bundle, checked against this installation's audit key: every hash, link and file, and the signatures."),
  h("label", { for: "file" }, "File"), file,
  h("p"), h("button", { type: "submit", id: "verify-file" }, "Verify"), checked);
  const newer = h("input", { id: "compare-newer", type: "file", accept: ".jsonl,.csv" });
  const older = h("input", { id: "compare-older", type: "file", accept: ".jsonl,.csv" });
  const compared = h("div", { "aria-live": "polite" });
  const compareForm = h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    if (!newer.files[0] || !older.files[0]) { compared.replaceChildren(h("p", { class: "error", role: "alert" }, "Choose both files.")); return; }
    compared.replaceChildren(h("p", {}, "Comparing…"));
    const form = new FormData();
    form.append("file", newer.files[0]);
    form.append("against", older.files[0]);
    const res = await fetch("/api/v1/audit/verify", { method: "POST", headers: { Authorization: `Bearer ${api.tokens.access_token}` }, body: form });
    const r = await res.json();
    if (!res.ok) { compared.replaceChildren(h("p", { class: "error", role: "alert" }, r.detail || "Comparison failed")); return; }
    compared.replaceChildren(h("p", { id: "compare-result", class: r.ok ? "" : "error", role: "status" },
      r.ok ? `Nothing exported before was changed: ${r.summary}` : `CHANGED SINCE THE EARLIER EXPORT: ${r.summary}`));
  } },
  h("h2", {}, "Compare with an earlier export"),
  h("p", { class: "meta" }, "Shows that what you exported before is still there, unchanged, in a newer export of the same case or account: no event rewritten, removed or reordered since, and the log the newer one was made under extends the earlier one's."),
  h("label", { for: "compare-newer" }, "Newer export"), newer,
  h("label", { for: "compare-older" }, "Earlier export"), older,
  h("p"), h("button", { type: "submit", id: "compare" }, "Compare"), compared);
  show(exportForm, verifyForm, compareForm);
}

start().catch((e) => show(h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : String(e))));
