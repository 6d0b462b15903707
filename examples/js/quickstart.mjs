// AgentMem from JavaScript (Node 18+): a subscription over graphql-ws, a mutation and a query
// over plain fetch.
//   cd examples/js && npm ci
//   AGENTMEM_URL=http://127.0.0.1:8000/graphql AGENTMEM_API_KEY=... node quickstart.mjs
import { createClient } from "graphql-ws";
import WebSocket from "ws"; // Node 20 has no global WebSocket; browsers and Node 22+ do

const url = process.env.AGENTMEM_URL ?? "http://127.0.0.1:8000/graphql";
const apiKey = process.env.AGENTMEM_API_KEY; // unset: a server in auth.mode = development
const userId = `js-demo-${Date.now()}`;
const headers = { "Content-Type": "application/json", ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}) };

async function graphql(query, variables) {
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  if (body.errors) throw new Error(`${body.errors[0].extensions?.code}: ${body.errors[0].message}`);
  return body.data;
}

// 1. subscribe first, so the event of the mutation below is not missed
const ws = createClient({
  url: url.replace(/^http/, "ws"),
  webSocketImpl: WebSocket,
  connectionParams: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
});
const firstEvent = new Promise((resolve, reject) => {
  const stop = ws.subscribe(
    {
      query: `subscription Events($scope: ScopeInput) {
        memoryEvents(scope: $scope) { kind memoryId memory { text } }
      }`,
      variables: { scope: { userId } },
    },
    { next: (msg) => { resolve(msg.data.memoryEvents); stop(); }, error: reject, complete: () => {} },
  );
});
await new Promise((resolve) => setTimeout(resolve, 300)); // let the subscription register

// 2. a mutation: remember something (infer: false stores it verbatim)
const added = await graphql(
  `mutation Add($input: AddMemoriesInput!) {
    addMemories(input: $input) { changes { id event text } }
  }`,
  { input: { messages: [{ role: "user", content: "I prefer window seats on long flights" }], scope: { userId }, infer: false } },
);
console.log("added:", added.addMemories.changes);

// 3. the subscription saw it
const event = await Promise.race([firstEvent, new Promise((_, no) => setTimeout(() => no(new Error("no event")), 10000))]);
console.log("event:", event.kind, event.memory.text);

// 4. a query: search by meaning
const found = await graphql(
  `query Search($query: String!, $scope: ScopeInput!) {
    search(query: $query, scope: $scope, limit: 3) { hits { score memory { id text } } }
  }`,
  { query: "where does the user like to sit on a plane?", scope: { userId } },
);
console.log("search:", found.search.hits.map((h) => `${h.score.toFixed(3)} ${h.memory.text}`));
await ws.dispose();
if (found.search.hits[0]?.memory.id !== added.addMemories.changes[0].id) process.exit(1);
