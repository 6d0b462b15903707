// The Memories tab: a paged list of a scope's memories, or search hits with their score
// breakdown; a memory opens its history.
import { debounce, el, when } from "./gql.js";

export const MEMORY_FIELDS = `id text userId agentId runId metadata categories createdAt updatedAt
  invalidatedAt invalidationReason valid immutable`;
const PAGE = 50;
const LIST = `query ExplorerMemories($scope: ScopeInput, $first: Int!, $after: String, $inv: Boolean!) {
  memories(scope: $scope, first: $first, after: $after, includeInvalidated: $inv) {
    nodes { ${MEMORY_FIELDS} }
    pageInfo { hasNextPage endCursor }
  }
}`;
const SEARCH = `query ExplorerSearch($query: String!, $scope: ScopeInput!, $inv: Boolean!) {
  search(query: $query, scope: $scope, limit: ${PAGE}, includeInvalidated: $inv) {
    hits { score scores { fused vector lexical graph time reranked } matchedTerms memory { ${MEMORY_FIELDS} } }
  }
}`;
const CHANNELS = ["fused", "vector", "lexical", "graph", "time", "reranked"];

export class MemoriesView {
  constructor(ctx) {
    this.ctx = ctx;
    this.list = document.getElementById("memory-list");
    this.status = document.getElementById("memories-status");
    this.more = document.getElementById("memories-more");
    this.search = document.getElementById("search");
    this.invalid = document.getElementById("show-invalid");
    this.cursor = null;
    this.generation = 0;  // answers to an older request (scope or query changed since) are dropped
    this.more.onclick = () => this.loadPage();
    this.search.oninput = debounce(() => this.reload(), 300);
    this.invalid.onchange = () => this.reload();
  }

  get query() {
    return this.search.value.trim();
  }

  reload() {
    this.generation += 1;
    this.list.replaceChildren();
    this.cursor = null;
    this.more.hidden = true;
    return this.query ? this.runSearch() : this.loadPage();
  }

  async loadPage() {
    const generation = this.generation;
    this.status.textContent = "Loading…";
    this.more.disabled = true;  // one page at a time reads the cursor
    try {
      const data = await this.ctx.api.query(LIST, {
        scope: this.ctx.scope(), first: PAGE, after: this.cursor, inv: this.invalid.checked,
      });
      if (generation !== this.generation) return;
      const { nodes, pageInfo } = data.memories;
      this.list.append(...nodes.map((m) => this.card(m)));
      this.cursor = pageInfo.endCursor;
      this.more.hidden = !pageInfo.hasNextPage;
      this.more.disabled = false;
      const shown = this.list.children.length;
      this.status.textContent = shown ? `${shown} memories shown${pageInfo.hasNextPage ? ", more to load" : ""}`
        : "No memories in this scope.";
    } catch (e) {
      if (generation === this.generation) {
        this.status.textContent = e.message;
        this.more.disabled = false;
      }
    }
  }

  async runSearch() {
    const generation = this.generation;
    const scope = this.ctx.scope();
    if (!scope) {
      this.status.textContent = "Pick a user, agent or run to search.";
      return;
    }
    this.status.textContent = "Searching…";
    try {
      const data = await this.ctx.api.query(SEARCH, { query: this.query, scope, inv: this.invalid.checked });
      if (generation !== this.generation) return;
      const hits = data.search.hits;
      this.list.append(...hits.map((hit) => this.card(hit.memory, hit)));
      this.status.textContent = hits.length ? `${hits.length} hits, best first` : "Nothing matches.";
    } catch (e) {
      if (generation === this.generation) this.status.textContent = e.message;
    }
  }

  card(memory, hit = null) {
    const owner = [memory.userId && `user ${memory.userId}`, memory.agentId && `agent ${memory.agentId}`,
      memory.runId && `run ${memory.runId}`].filter(Boolean).join(" · ");
    const metadata = Object.entries(memory.metadata || {});
    return el("li", { class: `card memory${memory.valid ? "" : " invalid"}`, dataset: { id: memory.id },
      onclick: () => this.ctx.openHistory(memory.id) },
      el("p", { class: "text" }, memory.text),
      hit && el("div", { class: "scores" },
        CHANNELS.filter((c) => hit.scores[c] !== null).map((c) =>
          el("span", { class: `chip score ${c}`, title: `${c} channel score` }, `${c} ${hit.scores[c].toFixed(3)}`)),
        hit.matchedTerms.length ? el("span", { class: "chip terms" }, `matched: ${hit.matchedTerms.join(", ")}`) : null),
      el("div", { class: "meta" },
        memory.valid ? el("span", { class: "chip ok" }, "valid")
          : el("span", { class: "chip bad", title: memory.invalidationReason || "" }, `invalid since ${when(memory.invalidatedAt)}`),
        memory.immutable ? el("span", { class: "chip" }, "immutable") : null,
        memory.categories.map((c) => el("span", { class: "chip category" }, c)),
        metadata.map(([k, v]) => el("span", { class: "chip metadata" }, `${k}: ${JSON.stringify(v)}`)),
        el("span", { class: "muted small" }, `${owner} · ${when(memory.createdAt)}`)));
  }

  /** A live event: the list follows what happens elsewhere. */
  onEvent(event) {
    if (event.kind === "RESET") {
      this.reload();
    } else if (event.kind === "DELETE" || (event.kind === "INVALIDATE" && !this.invalid.checked)) {
      this.remove(event.memoryId);
    } else if (event.memory && ["ADD", "UPDATE", "INVALIDATE"].includes(event.kind)) {
      this.upsert(event.memory);
    }
  }

  /** A memory added or changed elsewhere (live event, or an edit here). */
  upsert(memory) {
    const old = this.list.querySelector(`[data-id="${CSS.escape(memory.id)}"]`);
    if (this.query) {  // a hit keeps its place and scores until the next search; its text is current
      if (old) old.querySelector(".text").textContent = memory.text;
      return;
    }
    const card = this.card(memory);
    if (old) old.replaceWith(card);
    else this.list.prepend(card);
  }

  remove(id) {
    const old = this.list.querySelector(`[data-id="${CSS.escape(id)}"]`);
    if (old) old.remove();
  }
}
