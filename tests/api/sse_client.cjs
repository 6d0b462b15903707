// Drives the real `graphql-sse` client (examples/js/node_modules, found through NODE_PATH)
// against a live server, for tests/api/test_sse_graphql.py. One operation; prints
// "RESULT <json>" per result, then "DONE" (completed, or COUNT results read) or "ERROR <why>".
//   AGENTMEM_URL, AGENTMEM_API_KEY (optional), SSE_MODE=single|distinct, SSE_QUERY,
//   SSE_VARIABLES (JSON), SSE_COUNT (stop after this many results; default: until complete)
const { createClient } = require("graphql-sse");

const key = process.env.AGENTMEM_API_KEY;
const client = createClient({
  url: process.env.AGENTMEM_URL,
  singleConnection: process.env.SSE_MODE === "single",
  headers: key ? { Authorization: `Bearer ${key}` } : {},
  retryAttempts: 0, // a refusal is reported at once, not retried with back-off
  on: { connected: () => console.log("CONNECTED") },
});
const count = Number(process.env.SSE_COUNT || "0");

(async () => {
  let seen = 0;
  try {
    const request = { query: process.env.SSE_QUERY, variables: JSON.parse(process.env.SSE_VARIABLES || "{}") };
    for await (const result of client.iterate(request)) {
      console.log("RESULT " + JSON.stringify(result));
      if (count && ++seen >= count) break;
    }
    console.log("DONE");
  } catch (err) {
    const status = err && err.response ? ` (HTTP ${err.response.status})` : "";
    console.log("ERROR " + (err && err.message ? err.message : JSON.stringify(err)) + status);
    process.exitCode = 2;
  } finally {
    client.dispose();
  }
})();
