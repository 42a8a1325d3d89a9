// Appointments on a case: what is proposed or booked, booking one of the
// other side's times, proposing times, cancelling. `side` is "staff" or
// "contact": one books what the other proposed.

import { h, when } from "./api.js";

function span(slot) {
  const start = new Date(slot.start);
  const end = new Date(slot.end);
  return `${when(slot.start)} – ${end.toLocaleTimeString(undefined, { timeStyle: "short" })} (${Math.round((end - start) / 60000)} min)`;
}

/// The appointments section of a case; re-renders itself after each step.
export function appointmentsSection(api, caseId, side) {
  const box = h("section", { class: "appointments", "aria-labelledby": `ap-h-${caseId}` });
  const err = h("p", { class: "error", role: "alert" });
  const act = (fn) => async () => { err.textContent = ""; try { await fn(); await render(); } catch (e) { err.textContent = e.message; } };
  const base = `/api/v1/cases/${caseId}/appointments`;

  function proposeForm() {
    const title = h("input", { id: `ap-title-${caseId}`, maxlength: "120", placeholder: "e.g. Invoice walkthrough" });
    const starts = [0, 1, 2].map((i) => h("input", { type: "datetime-local", "aria-label": `Option ${i + 1} start`, "data-slot": String(i) }));
    // One id per form: a resent proposal is not proposed twice.
    const requestId = crypto.randomUUID();
    const minutes = h("select", { "aria-label": "Length" }, ...[15, 30, 45, 60, 90].map((m) => h("option", { value: String(m), selected: m === 30 }, `${m} min`)));
    const form = h("form", { hidden: true, class: "card", onsubmit: (ev) => { ev.preventDefault(); act(async () => {
      const slots = starts.filter((s) => s.value).map((s) => {
        const start = new Date(s.value);
        return { start: start.toISOString(), end: new Date(start.getTime() + Number(minutes.value) * 60000).toISOString() };
      });
      await api.post(base, { title: title.value, slots, client_request_id: requestId });
    })(); } },
    h("label", { for: `ap-title-${caseId}` }, "What is the meeting about?"), title,
    h("p", { class: "meta" }, "Offer up to three times (your local time); the other side picks one."),
    h("div", { class: "row" }, ...starts, minutes),
    h("p"), h("button", { type: "submit", id: `ap-send-${caseId}` }, "Propose these times"));
    return form;
  }

  async function render() {
    const list = await api.get(base);
    const form = proposeForm();
    box.replaceChildren(h("h3", { id: `ap-h-${caseId}` }, "Appointments"),
      ...list.filter((a) => a.status !== "cancelled").map((a) => {
        const mine = a.proposed_by_kind === side;
        if (a.status === "booked") {
          return h("div", { class: "appointment booked", "data-appointment": a.id },
            h("strong", {}, `${a.title}: `), span(a.booked), " ",
            h("button", { type: "button", class: "secondary small", onclick: act(() => api.save(`${base}/${a.id}/ics`, "appointment.ics")) }, "Add to calendar"),
            h("button", { type: "button", class: "secondary small", onclick: act(() => api.post(`${base}/${a.id}/cancel`, {})) }, "Cancel"));
        }
        return h("div", { class: "appointment", "data-appointment": a.id },
          h("strong", {}, a.title), a.note ? h("p", { class: "meta" }, a.note) : null,
          h("p", { class: "meta" }, mine ? "Waiting for the other side to pick a time:" : "Pick the time that suits you:"),
          h("ul", {}, ...a.slots.map((s, i) => h("li", {}, span(s), " ",
            mine ? null : h("button", { type: "button", class: "small", "data-book": String(i), onclick: act(() => api.post(`${base}/${a.id}/book`, { slot: i })) }, "Book")))),
          h("button", { type: "button", class: "secondary small", onclick: act(() => api.post(`${base}/${a.id}/cancel`, {})) }, mine ? "Withdraw" : "None of these work"));
      }),
      h("button", { type: "button", class: "secondary", id: `ap-new-${caseId}`, onclick: () => { form.hidden = !form.hidden; } }, "Propose a meeting"),
      form, err);
  }
  render().catch((e) => { err.textContent = e.message; box.replaceChildren(err); });
  box.refresh = render;
  return box;
}
