// The scope pickers (user / agent / run), filled from the owners endpoint (/v1/entities).
import { el } from "./gql.js";

const KINDS = ["user", "agent", "run"];

export class ScopePicker {
  constructor(api, onChange) {
    this.api = api;
    this.onChange = onChange;
    this.selects = Object.fromEntries(KINDS.map((kind) => [kind, document.getElementById(`scope-${kind}`)]));
    for (const select of Object.values(this.selects)) select.onchange = () => this.onChange(this.scope());
  }

  /** The GraphQL ScopeInput picked (null when nothing is). */
  scope() {
    const scope = {};
    for (const kind of KINDS) {
      const value = this.selects[kind].value;
      if (value) scope[`${kind}Id`] = value;
    }
    return Object.keys(scope).length ? scope : null;
  }

  async load() {
    const owners = (await this.api.rest("/v1/entities/")).results;
    for (const kind of KINDS) {
      const select = this.selects[kind];
      const current = select.value;
      const mine = owners.filter((o) => o.type === kind);
      select.replaceChildren(el("option", { value: "" }, mine.length ? `any ${kind}` : `no ${kind}s`),
        ...mine.map((o) => el("option", { value: o.id }, `${o.id} (${o.total_memories})`)));
      select.value = mine.some((o) => o.id === current) ? current : "";
    }
    const note = document.getElementById("scope-note");
    note.textContent = owners.length ? "" : "No memories yet.";
  }

  /** Picks an owner (used when there is only one, e.g. a user key). */
  pick(kind, id) {
    this.selects[kind].value = id;
  }

  owners(kind) {
    return [...this.selects[kind].options].map((o) => o.value).filter(Boolean);
  }
}
