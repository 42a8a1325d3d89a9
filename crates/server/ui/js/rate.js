// The page a rating link opens: the case's name, five choices and a
// comment. No sign-in: the link's signed token is the permission.

import { Api, h } from "./api.js";
import { ratingForm } from "./rating.js";

const api = new Api("rate");
const app = document.getElementById("app");

async function start() {
  const instance = await api.get("/api/v1/instance");
  document.getElementById("desk").textContent = `${instance.name} support`;
  const params = new URLSearchParams(location.search);
  const caseId = params.get("case");
  const token = params.get("token");
  if (!caseId || !token) {
    app.replaceChildren(h("p", { class: "error", role: "alert" }, "This rating link is incomplete. Open it again from the email."));
    return;
  }
  const path = `/api/v1/cases/${encodeURIComponent(caseId)}/satisfaction`;
  try {
    const survey = await api.get(`${path}?token=${encodeURIComponent(token)}`);
    app.replaceChildren(h("section", { class: "card" },
      h("h2", {}, `#${survey.case_number} ${survey.subject}`),
      ratingForm(survey, (rating, comment) => api.post(path, { rating, comment, token }))));
  } catch (e) {
    app.replaceChildren(h("p", { class: "error", role: "alert" }, e.message));
  }
}

start();
