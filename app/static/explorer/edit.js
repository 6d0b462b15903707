// Adding, correcting and deleting memories; every change asks for confirmation first.
import { el } from "./gql.js";
import { confirmAction } from "./dialog.js";
import { MEMORY_FIELDS } from "./memories.js";

const ADD = `mutation ExplorerAdd($input: AddMemoriesInput!) {
  addMemories(input: $input) { changes { event memory { ${MEMORY_FIELDS} } } graphPending }
}`;
const UPDATE = `mutation ExplorerCorrect($input: UpdateMemoryInput!) {
  updateMemory(input: $input) { ${MEMORY_FIELDS} }
}`;
const DELETE = `mutation ExplorerDelete($id: ID!, $purge: Boolean!) {
  deleteMemory(id: $id, purge: $purge) { id }
}`;

export class Editor {
  constructor(ctx) {
    this.ctx = ctx;
    const form = document.getElementById("add-form");
    this.text = document.getElementById("add-text");
    this.infer = document.getElementById("add-infer");
    form.onsubmit = (event) => { event.preventDefault(); this.add(); };
  }

  async add() {
    const scope = this.ctx.scope();
    const text = this.text.value.trim();
    if (!scope) { this.ctx.notify("Pick a user, agent or run to add a memory to."); return; }
    if (!text || !await confirmAction(`Add this memory to ${JSON.stringify(scope)}?\n\n${text}`, "Add")) return;
    try {
      const { addMemories } = await this.ctx.api.query(ADD, { input: {
        messages: [{ role: "user", content: text }], scope, infer: this.infer.checked } });
      for (const change of addMemories.changes) if (change.memory) this.ctx.memories.upsert(change.memory);
      this.text.value = "";
      this.ctx.notify(`${addMemories.changes.length} change(s) made.`);
    } catch (e) {
      this.ctx.notify(e.message);
    }
  }

  /** The correct / delete controls shown with a memory. */
  controls(memory) {
    const text = el("textarea", { id: "correct-text", rows: 3 }, memory.text);
    const purge = el("input", { id: "delete-purge", type: "checkbox" });
    const message = el("p", { class: "muted small", role: "status" });
    const correct = async () => {
      const next = text.value.trim();
      if (!next || next === memory.text) return;
      if (!await confirmAction(`Correct this memory?\n\n${memory.text}\n→\n${next}`, "Save")) return;
      try {
        const { updateMemory } = await this.ctx.api.query(UPDATE, { input: { id: memory.id, text: next } });
        this.ctx.memories.upsert(updateMemory);
        await this.ctx.openHistory(memory.id);
      } catch (e) {
        message.textContent = e.message;
      }
    };
    const remove = async () => {
      const how = purge.checked ? "Erase this memory for good (its text also leaves the history)" : "Delete this memory";
      if (!await confirmAction(`${how}?\n\n${memory.text}`, purge.checked ? "Erase" : "Delete")) return;
      try {
        await this.ctx.api.query(DELETE, { id: memory.id, purge: purge.checked });
        this.ctx.memories.remove(memory.id);
        await this.ctx.openHistory(memory.id);
      } catch (e) {
        message.textContent = e.message;
      }
    };
    if (!memory.valid) return el("div", { class: "edit" }, message);
    return el("div", { class: "edit" },
      text,
      el("div", { class: "row" },
        el("button", { id: "correct-save", class: "primary", type: "button", onclick: correct }, "Save correction"),
        el("span", { class: "grow" }),
        el("label", { class: "check" }, purge, " erase for good (purge)"),
        el("button", { id: "delete-memory", class: "danger", type: "button", onclick: remove }, "Delete")),
      message);
  }
}
