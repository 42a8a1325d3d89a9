// Where a staff invitation points: the new staff member chooses their
// password, is signed in, and goes on to the page for their role.

import { Api, h, passwordFields, pageForRole } from "./api.js";

const app = document.getElementById("app");

async function start() {
  const instance = await new Api("welcome").get("/api/v1/instance");
  document.getElementById("desk").textContent = `Welcome to ${instance.name}`;
  const token = new URLSearchParams(location.search).get("token");
  if (!token) {
    app.replaceChildren(h("p", { class: "error", role: "alert" }, "This invitation link is incomplete. Open it again from the email, or ask an administrator for a new one."));
    return;
  }
  const err = h("p", { class: "error", role: "alert" });
  const fields = passwordFields("w");
  app.replaceChildren(h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const chosen = fields.value();
    if (chosen.error) { err.textContent = chosen.error; return; }
    try {
      const staff = new Api("welcome");
      staff.tokens = await staff.post("/api/v1/auth/invitation", { token, password: chosen.password });
      const me = await staff.get("/api/v1/me");
      location.assign(pageForRole(me.role).path);
    } catch (e) { err.textContent = e.message; }
  } },
  h("h2", {}, "Choose your password"),
  h("p", {}, `You have been invited to ${instance.name}. Choose a password of at least 12 characters; you sign in with it from now on.`),
  ...fields.nodes,
  h("p"), h("button", { type: "submit", id: "w-save" }, "Save and sign in"), err));
}

start();
