// The one way the page talks to the service: GraphQL over fetch, the owners endpoint, and
// subscriptions over graphql-ws; every call carries the signed-in key.

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

const GRAPHQL = new URL("/graphql", window.location.href);

export class Api {
  constructor(key, onUnauthenticated) {
    this.key = key;
    this.onUnauthenticated = onUnauthenticated;
    this.ws = null;
  }

  get headers() {
    return { Authorization: `Bearer ${this.key}` };
  }

  async query(document, variables = {}) {
    const resp = await fetch(GRAPHQL, {
      method: "POST",
      headers: { ...this.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ query: document, variables }),
    });
    const body = await resp.json().catch(() => ({ errors: [{ message: `HTTP ${resp.status}` }] }));
    if (body.errors && body.errors.length) {
      const { message, extensions } = body.errors[0];
      const code = (extensions && extensions.code) || `HTTP_${resp.status}`;
      if (code === "UNAUTHENTICATED") this.onUnauthenticated();
      throw new ApiError(message, code);
    }
    return body.data;
  }

  async rest(path) {
    const resp = await fetch(new URL(path, window.location.href), { headers: this.headers });
    const body = await resp.json().catch(() => ({}));
    if (resp.status === 401) this.onUnauthenticated();
    if (!resp.ok) throw new ApiError(body.detail || `HTTP ${resp.status}`, body.code || `HTTP_${resp.status}`);
    return body;
  }

  /** Runs a subscription; returns a function that ends it. */
  subscribe(document, variables, { next, error }) {
    if (!this.ws) {
      const url = new URL(GRAPHQL);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      this.ws = window.graphqlWs.createClient({
        url: url.href, lazy: true, keepAlive: 10000, retryAttempts: 5,
        connectionParams: () => this.headers,  // the key travels in connection_init, never in the URL
      });
    }
    return this.ws.subscribe({ query: document, variables }, {
      next: (message) => (message.errors ? error(message.errors[0]) : next(message.data)),
      error: (e) => error(e instanceof Error ? e : { message: e.reason || "connection closed" }),
      complete: () => {},
    });
  }

  close() {
    if (this.ws) this.ws.dispose();
    this.ws = null;
  }
}

/** fn, called once calls have paused for `ms`. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** An element: el("li", {class: "x", onclick}, child, "text"...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
