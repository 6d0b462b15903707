// The Graph tab: a scope's entities and relations drawn with cytoscape. Relations are read a
// page at a time and drawn up to a cap of nodes ("Show more" raises it), so a scope with
// thousands of entities never freezes the page. Invalid relations are dashed; the slider
// redraws the graph as it stood at a date; a click on a node adds its neighbourhood.
import { el, when } from "./gql.js";

const RELATION_FIELDS = "source relation destination valid createdAt invalidatedAt validFrom validTo";
const RELATIONS = `query ExplorerRelations($scope: ScopeInput, $filter: RelationFilter, $first: Int!, $after: String,
                                          $asOf: DateTime) {
  relations(scope: $scope, filter: $filter, first: $first, after: $after, asOf: $asOf) {
    nodes { ${RELATION_FIELDS} userId agentId runId }
    pageInfo { hasNextPage endCursor }
  }
}`;
const NEIGHBOURHOOD = `query ExplorerNeighbourhood($scope: ScopeInput!, $entity: String!, $asOf: DateTime) {
  neighbourhood(scope: $scope, entity: $entity, depth: 1, asOf: $asOf) {
    entities(first: 100) { name type }
    relations(first: 100) { ${RELATION_FIELDS} }
  }
}`;
export const NODE_CAP = 300;
const PAGE = 100;
const SMALL = 1000;  // nodes up to which the force layout runs (600 take about 0.4 s)
const MAX_FIT_ZOOM = 1.5;  // the service's default largest page
const STYLE = [
  { selector: "node", style: {
    "background-color": "#4f6bed", label: "data(id)", color: "#1f2430", "font-size": 11,
    "text-valign": "bottom", "text-margin-y": 4,
    width: "mapData(degree, 1, 8, 16, 36)", height: "mapData(degree, 1, 8, 16, 36)",
    "text-background-color": "#ffffff", "text-background-opacity": 0.85, "text-background-padding": 2,
    "min-zoomed-font-size": 7,  // labels too small to read are not drawn (and cost nothing)
  } },
  { selector: "node[degree >= 3]", style: { "background-color": "#2f3fb8", "font-weight": "bold" } },
  { selector: "node.expanded", style: { "border-width": 3, "border-color": "#f2a33a" } },
  { selector: "edge", style: {
    width: 1.6, "line-color": "#9aa5bd", "target-arrow-color": "#9aa5bd", "target-arrow-shape": "triangle",
    "curve-style": "bezier", label: "data(relation)", "font-size": 9, color: "#5b6478",
    "text-rotation": "autorotate", "text-background-color": "#ffffff", "text-background-opacity": 0.85,
    "min-zoomed-font-size": 7,
  } },
  { selector: "edge.invalid", style: {
    "line-style": "dashed", "line-color": "#d08a8a", "target-arrow-color": "#d08a8a", color: "#b06060",
  } },
];

export class GraphView {
  constructor(ctx) {
    this.ctx = ctx;
    this.cy = window.cytoscape({ container: document.getElementById("graph"), style: STYLE, minZoom: 0.05, maxZoom: 4 });
    this.status = document.getElementById("graph-status");
    this.more = document.getElementById("graph-more");
    this.typeSelect = document.getElementById("relation-type");
    this.slider = document.getElementById("asof");
    this.sliderLabel = document.getElementById("asof-label");
    this.types = new Set();
    this.cap = NODE_CAP;
    this.generation = 0;
    this.more.onclick = () => { this.cap += NODE_CAP; this.fill(); };
    this.typeSelect.onchange = () => this.reload({ keepRange: true });
    this.slider.oninput = () => this.labelDate();
    this.slider.onchange = () => { this.labelDate(); this.reload({ keepRange: true }); };
    this.cy.on("tap", "node", (event) => this.expand(event.target.id()));
  }

  labelDate() {
    this.sliderLabel.textContent = this.asOf() ? when(this.asOf()) : "now";
  }

  /** The slider's date (ISO), or null at its right end ("now"). */
  asOf() {
    const value = Number(this.slider.value);
    return value >= Number(this.slider.max) ? null : new Date(value).toISOString();
  }

  reload({ keepRange = false } = {}) {
    this.generation += 1;
    this.cy.elements().remove();
    this.cap = NODE_CAP;
    this.buffer = [];
    this.cursor = null;
    this.exhausted = false;
    this.keepRange = keepRange;
    if (!keepRange) {  // the range is learnt again from this scope's relations
      Object.assign(this.slider, { min: "0", max: "1", value: "1" });
      this.sliderLabel.textContent = "now";
    }
    return this.fill();
  }

  async nextPage() {
    const asOf = this.asOf();
    const data = await this.ctx.api.query(RELATIONS, {
      scope: this.ctx.scope(), first: PAGE, after: this.cursor, asOf,
      // "now" shows what no longer holds too (dashed); a past date shows what held then
      filter: { relation: this.typeSelect.value || null, includeInvalid: asOf === null },
    });
    const { nodes, pageInfo } = data.relations;
    this.cursor = pageInfo.endCursor;
    this.exhausted = !pageInfo.hasNextPage;
    return nodes;
  }

  /** Draws relations until the node cap is reached or none are left. */
  async fill() {
    const generation = this.generation;
    this.status.textContent = "Loading…";
    this.more.disabled = true;  // one fill at a time reads the cursor
    try {
      const added = [];
      while (this.cy.nodes().length < this.cap) {
        if (!this.buffer.length) {
          if (this.exhausted) break;
          this.buffer = await this.nextPage();
          if (generation !== this.generation) return;
          if (!this.keepRange) this.widenRange(this.buffer);
          continue;
        }
        const relation = this.buffer[0];
        const fresh = [relation.source, relation.destination].filter((n) => this.cy.getElementById(n).empty());
        if (this.cy.nodes().length + new Set(fresh).size > this.cap) break;
        this.buffer.shift();
        added.push(...this.draw(relation));
      }
      this.learnTypes();
      this.layout(this.cy.collection(added));
      this.report();
    } catch (e) {
      if (generation === this.generation) {
        this.status.textContent = e.message;
        this.more.disabled = false;
      }
    }
  }

  report() {
    const left = this.buffer.length > 0 || !this.exhausted;
    this.more.hidden = !left;
    this.more.disabled = false;
    const nodes = this.cy.nodes().length;
    const edges = this.cy.edges().length;
    const at = this.asOf() ? ` as of ${when(this.asOf())}` : "";
    this.status.textContent = nodes ? `${nodes} entities, ${edges} relations${at}${left ? ` (capped at ${this.cap}: more to show)` : ""}`
      : `No relations in this scope${at}.`;
  }

  /** Adds one relation (and its entities); returns the elements added. */
  draw(relation, types = {}) {
    const added = [];
    for (const name of [relation.source, relation.destination]) {
      if (this.cy.getElementById(name).empty()) {
        added.push(this.cy.add({ group: "nodes", data: { id: name, type: types[name] || "entity", degree: 0 } }));
      }
    }
    const id = `${relation.source}|${relation.relation}|${relation.destination}|${relation.createdAt}`;
    if (this.cy.getElementById(id).empty()) {
      const edge = this.cy.add({ group: "edges", data: { id, source: relation.source, target: relation.destination,
        relation: relation.relation, createdAt: relation.createdAt }, classes: relation.valid ? "" : "invalid" });
      added.push(edge);
      for (const end of [relation.source, relation.destination]) {
        const node = this.cy.getElementById(end);
        node.data("degree", node.data("degree") + 1);
      }
    }
    this.types.add(relation.relation);
    return added;
  }

  /** Small graphs get a force layout (new nodes start next to a neighbour, so the rest stays
   * where it was); large ones rings by degree, which costs little. */
  layout(added) {
    if (!added.length) return;
    if (this.cy.container().offsetWidth === 0) { this.stale = true; return; }  // hidden tab: lay out when shown
    const whole = this.stale || added.length === this.cy.elements().length;
    if (!whole) this.placeNear(added.nodes());
    const options = this.cy.nodes().length <= SMALL
      ? { name: "cose", randomize: whole, initialTemp: whole ? 200 : 40, coolingFactor: 0.95, numIter: 1000,
          nodeRepulsion: () => 400000, idealEdgeLength: () => 100, edgeElasticity: () => 100, gravity: 80 }
      : { name: "concentric", concentric: (node) => node.degree(), levelWidth: () => 2, minNodeSpacing: 12 };
    this.cy.layout({ ...options, animate: false, fit: false, nodeDimensionsIncludeLabels: true }).run();
    this.stale = false;
    this.fit();
  }

  fit() {
    this.cy.fit(undefined, 40);
    if (this.cy.zoom() > MAX_FIT_ZOOM) {  // a handful of nodes would otherwise fill the screen
      this.cy.zoom(MAX_FIT_ZOOM);
      this.cy.center();
    }
  }

  /** The tab became visible. */
  shown() {
    this.cy.resize();
    if (this.stale) this.layout(this.cy.elements());
    else this.fit();
  }

  placeNear(nodes) {
    for (const node of nodes) {
      const anchor = node.neighborhood("node").difference(nodes)[0];
      const at = anchor ? anchor.position() : { x: 0, y: 0 };
      node.position({ x: at.x + (Math.random() - 0.5) * 120, y: at.y + (Math.random() - 0.5) * 120 });
    }
  }

  learnTypes() {
    const known = new Set([...this.typeSelect.options].map((o) => o.value));
    for (const type of [...this.types].sort()) {
      if (!known.has(type)) this.typeSelect.append(el("option", { value: type }, type));
    }
  }

  widenRange(relations) {
    const max = Date.now();
    let min = Number(this.slider.min) > 1 ? Number(this.slider.min) : max;
    for (const r of relations) min = Math.min(min, Date.parse(r.validFrom || r.createdAt));
    this.slider.min = String(Math.min(min, max - 60_000));
    this.slider.max = String(max);
    this.slider.value = String(max);
  }

  async expand(name) {
    const scope = this.ctx.scope();
    if (!scope) { this.status.textContent = "Pick a user, agent or run to expand a neighbourhood."; return; }
    try {
      const { neighbourhood } = await this.ctx.api.query(NEIGHBOURHOOD, { scope, entity: name, asOf: this.asOf() });
      const types = Object.fromEntries(neighbourhood.entities.map((e) => [e.name, e.type]));
      const added = neighbourhood.relations.flatMap((r) => this.draw(r, types));
      this.cy.getElementById(name).addClass("expanded");
      this.layout(this.cy.collection(added));
      this.learnTypes();
      this.report();
    } catch (e) {
      this.status.textContent = e.message;
    }
  }

  /** A live relation event: drawn at once when the graph shows "now". */
  onEvent(event) {
    if (event.kind === "RESET") {
      this.reload();
      return;
    }
    if (!event.relation || this.asOf()) return;
    const filter = this.typeSelect.value;
    if (filter && event.relation.relation !== filter) return;
    if (event.kind === "RELATION_ADDED") {
      const added = this.draw(event.relation);
      this.layout(this.cy.collection(added));
    } else if (event.kind === "RELATION_INVALIDATED") {
      const { source, relation, destination } = event.relation;
      this.cy.edges().filter((e) => e.data("source") === source && e.data("target") === destination
        && e.data("relation") === relation).addClass("invalid");
    }
    this.learnTypes();
    this.report();
  }
}
