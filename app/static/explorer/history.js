// A memory's page in a drawer: its state, its history as a timeline (old -> new text, who,
// when, why), and the edit actions.
import { el, when } from "./gql.js";
import { MEMORY_FIELDS } from "./memories.js";

const MEMORY = `query ExplorerMemory($id: ID!) {
  memory(id: $id) {
    ${MEMORY_FIELDS} occurredAt
    history { event oldText newText createdAt actor role reason }
  }
}`;

const HISTORY = `query ExplorerHistory($id: ID!) {
  history(memoryId: $id) { event oldText newText createdAt actor role reason }
}`;

export class HistoryView {
  constructor(ctx) {
    this.ctx = ctx;
    this.dialog = document.getElementById("history");
    this.body = document.getElementById("history-body");
    document.getElementById("history-close").onclick = () => this.dialog.close();
    this.current = null;
  }

  async open(id) {
    this.body.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    if (!this.dialog.open) this.dialog.showModal();
    try {
      const { memory } = await this.ctx.api.query(MEMORY, { id });
      this.current = memory;
      this.render(memory);
    } catch (e) {
      if (e.code === "NOT_FOUND") await this.openDeleted(id);
      else this.body.replaceChildren(el("p", { class: "error" }, e.message));
    }
  }

  /** A deleted memory keeps its history. */
  async openDeleted(id) {
    try {
      const { history } = await this.ctx.api.query(HISTORY, { id });
      this.current = null;
      this.body.replaceChildren(
        el("p", { class: "chip bad" }, "deleted"),
        el("p", { class: "muted small" }, `id ${id}`),
        el("h3", {}, "History"),
        el("ol", { class: "timeline" }, history.map((h) => entry(h))));
    } catch (e) {
      this.body.replaceChildren(el("p", { class: "error" }, e.message));
    }
  }

  render(memory) {
    this.body.replaceChildren(...[
      el("p", { class: "text big" }, memory.text),
      el("p", { class: "muted small" }, `id ${memory.id} · created ${when(memory.createdAt)} · updated ${when(memory.updatedAt)}`),
      memory.valid ? null : el("p", { class: "chip bad" }, `invalidated ${when(memory.invalidatedAt)}: ${memory.invalidationReason || "no reason given"}`),
      this.ctx.editor.controls(memory),
      el("h3", {}, "History"),
      el("ol", { class: "timeline" }, memory.history.map((h) => entry(h))),
    ].filter(Boolean));
  }
}

function entry(h) {
  const who = [h.actor, h.role && `(${h.role})`].filter(Boolean).join(" ");
  let change;
  if (h.event === "UPDATE" && h.oldText !== null) {
    change = el("div", { class: "change" }, el("del", {}, h.oldText), el("span", { class: "arrow" }, "→"),
      el("ins", {}, h.newText ?? ""));
  } else {
    const text = h.newText ?? h.oldText;
    change = el("div", { class: "change" }, text === null ? el("em", { class: "muted" }, "text erased") : text);
  }
  return el("li", { class: `event ${h.event.toLowerCase()}` },
    el("div", { class: "event-head" }, el("span", { class: `chip kind ${h.event.toLowerCase()}` }, h.event),
      el("span", { class: "muted small" }, `${when(h.createdAt)}${who ? ` · by ${who}` : ""}`)),
    change,
    h.reason ? el("p", { class: "muted small" }, `why: ${h.reason}`) : null);
}
