// The explorer's shell: sign-in, the scope, the tabs, and the views wired together.
import { Api, debounce } from "./gql.js";
import { forget, showSignIn, storedKey, verify } from "./auth.js";
import { ScopePicker } from "./scope.js";
import { MemoriesView } from "./memories.js";
import { HistoryView } from "./history.js";
import { GraphView } from "./graph.js";
import { LiveView } from "./live.js";
import { Editor } from "./edit.js";

const TABS = ["memories", "graph", "live"];
let session = null;

function start({ key, principal }) {
  const shell = document.getElementById("shell");
  shell.hidden = false;
  document.getElementById("principal").textContent = `signed in as ${principal.principal} (${principal.role})`;
  const api = new Api(key, () => signOut("The key stopped working: sign in again."));
  let active = "memories";
  const ctx = {
    api,
    scope: () => picker.scope(),
    isActive: (tab) => active === tab,
    openHistory: (id) => history.open(id),
    notify: (text) => { document.getElementById("scope-note").textContent = text; },
    onEvent: (event) => {
      memories.onEvent(event);
      graph.onEvent(event);
      if (event.kind === "ADD" || event.kind === "DELETE") refreshOwners();
    },
  };
  const picker = new ScopePicker(api, () => { memories.reload(); graph.reload(); live.start(); });
  const refreshOwners = debounce(() => picker.load().catch(() => {}), 1000);  // the counts in the pickers
  const memories = new MemoriesView(ctx);
  const history = new HistoryView(ctx);
  const graph = new GraphView(ctx);
  const live = new LiveView(ctx);
  ctx.memories = memories;
  ctx.editor = new Editor(ctx);

  const show = (tab) => {
    active = tab;
    for (const name of TABS) document.getElementById(`tab-${name}`).hidden = name !== tab;
    for (const button of document.querySelectorAll(".tab")) button.classList.toggle("active", button.dataset.tab === tab);
    if (tab === "graph") graph.shown();
    if (tab === "live") live.seen();
  };
  for (const button of document.querySelectorAll(".tab")) button.onclick = () => show(button.dataset.tab);
  document.getElementById("signout").onclick = () => signOut("");

  session = { api, live, graph };
  // exposed for people poking at the page from the console (and for the browser tests)
  window.explorer = { ctx, picker, memories, history, graph, live, show, get cy() { return graph.cy; } };
  picker.load().then(() => {
    // a key bound to one user sees only that user: pick it
    const users = picker.owners("user");
    if (users.length === 1) picker.pick("user", users[0]);
    memories.reload();
    graph.reload();
    live.start();
    window.explorer.ready = true;
  }).catch((e) => ctx.notify(e.message));
}

function signOut(message) {
  forget();
  if (session) { session.live.close(); session.api.close(); session.graph.cy.destroy(); }
  session = null;
  window.explorer = null;
  document.getElementById("shell").hidden = true;
  showSignIn(start, message);
}

const key = storedKey();
if (key) {
  verify(key).then(start, () => signOut("Your session ended: sign in again."));
} else {
  showSignIn(start);
}
