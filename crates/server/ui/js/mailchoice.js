// The page a "which company is this about?" link opens. No sign-in: the
// link's token is the permission. Opening it decides nothing (mail
// scanners open links); the button does.

import { Api, h, when } from "./api.js";

const api = new Api("mailchoice");
const app = document.getElementById("app");

function problem(text) {
  app.replaceChildren(h("p", { class: "error", role: "alert" }, text));
}

async function start() {
  const instance = await api.get("/api/v1/instance");
  document.getElementById("desk").textContent = `${instance.name} support`;
  const token = new URLSearchParams(location.search).get("token");
  if (!token) return problem("This link is incomplete. Open it again from the email.");
  let offer;
  try { offer = await api.post("/api/v1/mail/choices/offer", { token }); } catch (e) { return problem(e.message); }
  if (offer.filed_case_number) {
    app.replaceChildren(h("section", { class: "card" },
      h("h2", {}, `Already filed under ${offer.filed_under}`),
      h("p", {}, `Your message “${offer.subject || "(no subject)"}” is case #${offer.filed_case_number} of ${offer.filed_under}. Nothing more to do: its team answers there.`),
      h("p", {}, `If it is about another company, write to that company's own address (in our email) and it is filed there.`),
      h("p", {}, h("a", { href: "/portal" }, "Follow it in the portal"))));
    return;
  }
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "button" }, `File it under ${offer.account_name}`);
  button.addEventListener("click", async () => {
    button.disabled = true;
    error.textContent = "";
    try {
      const filed = await api.post("/api/v1/mail/choices/file", { token });
      const done = filed.case_number
        ? [h("h2", {}, `Filed under ${filed.account_name}`),
           h("p", {}, `Your message is now case #${filed.case_number} of ${filed.account_name}, and its team answers there. Reply to our emails about it to add to the case.`),
           h("p", {}, h("a", { href: "/portal" }, "Follow it in the portal"))]
        : [h("h2", {}, `Sent to ${filed.account_name}`), h("p", {}, `${filed.account_name}'s support team looks at your message and answers you by email.`)];
      app.replaceChildren(h("section", { class: "card" }, ...done));
    } catch (e) {
      button.disabled = false;
      error.textContent = e.message;
    }
  });
  app.replaceChildren(h("section", { class: "card" },
    h("h2", {}, "Which company is your message about?"),
    h("p", {}, `Your message “${offer.subject || "(no subject)"}” of ${when(offer.received_at)} is waiting to be filed.`),
    h("p", {}, `This link files it as a case of ${offer.account_name}. The other links of our email then stop working.`),
    button, error));
}

start();
