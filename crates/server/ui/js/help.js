// The public help pages: knowledge base articles anyone may read, without
// signing in; contacts find theirs in the portal.

import { Api, h } from "./api.js";
import { knowledgeBrowser } from "./knowledge.js";

const api = new Api("help");
const app = document.getElementById("app");

async function start() {
  const instance = await api.get("/api/v1/instance");
  document.getElementById("desk").textContent = `${instance.name} help`;
  document.title = `${instance.name} help`;
  const pane = h("section", { class: "card", id: "pane" });
  app.replaceChildren(pane, h("p", { class: "meta" }, "Clients see more articles after signing in to the ", h("a", { href: "/portal" }, "portal"), "."));
  const ui = knowledgeBrowser(api, pane);
  const wanted = new URLSearchParams(location.search).get("article");
  if (wanted) ui.open(wanted);
}

start().catch((e) => app.replaceChildren(h("p", { class: "error", role: "alert" }, e.message)));
