// Reading the knowledge base: search, the list of articles the reader may
// see, and one article. Used by the public help page, the portal and the
// console.

import { h, when, highlighted } from "./api.js";

/// An article's body. The server renders the Markdown and sanitises the
/// HTML (no scripts, no event handlers, safe links); the strict
/// Content-Security-Policy of every page would stop a script regardless.
export function articleBody(article) {
  const body = h("div", { class: "article-body" });
  body.innerHTML = article.html;
  return body;
}

/// The whole article, with its category and tags.
export function articleView(article, back) {
  return h("article", { class: "article", "aria-labelledby": "article-h" },
    back ? h("p", {}, h("button", { type: "button", class: "secondary small", id: "kb-back", onclick: back }, "← All articles")) : null,
    h("h2", { id: "article-h" }, article.title),
    h("p", { class: "meta" }, [article.category, ...(article.tags || []).map((t) => `#${t}`)].filter(Boolean).join(" · "),
      ` · updated ${when(article.updated_at)}`),
    articleBody(article));
}

/// Search and browse in `container`; `staff` adds drafts and status badges.
/// `actions`: controls shown above the list (staff: "New article").
export function knowledgeBrowser(api, container, { staff = false, extra = () => [], actions = [] } = {}) {
  const results = h("ul", { class: "cases", id: "kb-results", "aria-label": "Articles" });
  const q = h("input", { id: "kb-q", type: "search", placeholder: "Search the help articles" });
  const list = (items) => results.replaceChildren(...(items.length ? items.map((a) => h("li", {},
    h("button", { type: "button", "data-article": a.id, onclick: () => open(a.id) },
      h("strong", {}, a.title), staff && a.status !== "published" ? h("span", { class: "badge" }, ` ${a.status}`) : null, h("br"),
      a.snippet ? highlighted(a) : h("span", { class: "meta" }, a.category || ""))))
    : [h("li", { class: "meta" }, "No articles found.")]));
  const load = async () => {
    const words = q.value.trim();
    list(await api.get(words ? `/api/v1/kb/search?q=${encodeURIComponent(words)}` : "/api/v1/kb/articles"));
  };
  const open = async (id) => {
    const a = await api.get(`/api/v1/kb/articles/${id}`);
    container.replaceChildren(articleView(a, () => { container.replaceChildren(...page); }), ...extra(a).filter(Boolean));
  };
  const page = [
    h("h2", {}, "Help articles"),
    ...actions,
    h("form", { role: "search", onsubmit: (ev) => { ev.preventDefault(); load(); } },
      h("label", { for: "kb-q" }, "Search"), h("div", { class: "row" }, q, h("button", { type: "submit", id: "kb-go" }, "Search"))),
    results,
  ];
  container.replaceChildren(...page);
  load();
  return { open, reload: load };
}
