// The Live tab: memory and relation events of the scope as they happen (the memoryEvents
// subscription over graphql-ws); each one also updates the Memories list and the graph.
import { el, when } from "./gql.js";
import { MEMORY_FIELDS } from "./memories.js";

const EVENTS = `subscription ExplorerEvents($scope: ScopeInput) {
  memoryEvents(scope: $scope) {
    kind at userId agentId runId memoryId previousText
    memory { ${MEMORY_FIELDS} }
    relation { source relation destination valid createdAt invalidatedAt validFrom validTo }
  }
}`;
const KEEP = 200;  // events kept in the feed

export class LiveView {
  constructor(ctx) {
    this.ctx = ctx;
    this.feed = document.getElementById("live-feed");
    this.status = document.getElementById("live-status");
    this.badge = document.getElementById("live-count");
    this.unseen = 0;
    this.stop = null;
    this.received = 0;
  }

  start() {
    if (this.stop) this.stop();
    const scope = this.ctx.scope();
    this.status.textContent = `Listening to ${scope ? describe(scope) : "every scope this key may see"}…`;
    this.stop = this.ctx.api.subscribe(EVENTS, { scope }, {
      next: (data) => this.arrive(data.memoryEvents),
      error: (e) => { this.status.textContent = `Live feed stopped: ${e.message}`; },
    });
  }

  arrive(event) {
    this.received += 1;
    this.feed.prepend(item(event));
    while (this.feed.children.length > KEEP) this.feed.lastChild.remove();
    if (!this.ctx.isActive("live")) {
      this.unseen += 1;
      this.badge.textContent = String(this.unseen);
      this.badge.hidden = false;
    }
    this.ctx.onEvent(event);
  }

  seen() {
    this.unseen = 0;
    this.badge.hidden = true;
  }

  close() {
    if (this.stop) this.stop();
    this.stop = null;
  }
}

function describe(scope) {
  return Object.entries(scope).map(([k, v]) => `${k.replace("Id", "")} ${v}`).join(", ");
}

function item(event) {
  const kind = event.kind.toLowerCase();
  let body;
  if (event.relation) {
    const r = event.relation;
    body = el("p", { class: "relation" }, el("b", {}, r.source), ` —${r.relation}→ `, el("b", {}, r.destination));
  } else if (event.kind === "UPDATE" && event.previousText !== null) {
    body = el("p", { class: "change" }, el("del", {}, event.previousText), el("span", { class: "arrow" }, "→"),
      el("ins", {}, event.memory ? event.memory.text : ""));
  } else {
    body = el("p", {}, event.memory ? event.memory.text : event.memoryId || "");
  }
  const owner = [event.userId && `user ${event.userId}`, event.agentId && `agent ${event.agentId}`,
    event.runId && `run ${event.runId}`].filter(Boolean).join(" · ");
  return el("li", { class: `card event ${kind}` },
    el("div", { class: "event-head" }, el("span", { class: `chip kind ${kind}` }, event.kind),
      el("span", { class: "muted small" }, `${when(event.at)}${owner ? ` · ${owner}` : ""}`)),
    body);
}
