// Rating a resolved case 1 to 5 with an optional comment, once: used by
// the rating link page, the portal and the chat widget.

import { h } from "./api.js";

const LABELS = ["", "Poor", "Fair", "Good", "Very good", "Excellent"];

/// `survey`: the case's satisfaction state; `send(rating, comment)` posts it.
export function ratingForm(survey, send) {
  if (survey.status === "rated") {
    return h("p", { class: "rated" }, `Thank you: you rated this case ${survey.rating} of 5 (${LABELS[survey.rating]}).`);
  }
  if (survey.status === "expired") return h("p", {}, "Rating this case has closed.");
  if (survey.status !== "open") return h("p", {}, "You can rate this case once it is resolved.");
  const box = h("div", { class: "rating" });
  const err = h("p", { class: "error", role: "alert" });
  const comment = h("textarea", { id: "rating-comment", rows: "3", maxlength: "2000", placeholder: "Anything we should know? (optional)" });
  let chosen = 0;
  const buttons = [1, 2, 3, 4, 5].map((n) => h("button", {
    type: "button", class: "secondary star", "data-rating": String(n), "aria-pressed": "false", title: LABELS[n],
    onclick: () => {
      chosen = n;
      buttons.forEach((b, i) => b.setAttribute("aria-pressed", String(i + 1 === n)));
    },
  }, String(n)));
  const submit = h("button", { type: "button", id: "rating-send", onclick: async () => {
    if (!chosen) { err.textContent = "Choose 1 to 5 first."; return; }
    try {
      const done = await send(chosen, comment.value.trim() || undefined);
      box.replaceWith(ratingForm(done, send));
    } catch (e) { err.textContent = e.message; }
  } }, "Send rating");
  box.append(h("p", {}, "How did we do? 1 is poor, 5 is excellent."), h("div", { class: "row" }, ...buttons),
    h("label", { for: "rating-comment" }, "Comment"), comment, h("p"), submit, err);
  return box;
}
