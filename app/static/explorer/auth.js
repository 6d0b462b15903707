// Sign in with an API key. The key lives in sessionStorage (this tab, until it closes) and is
// sent in the Authorization header; it never appears in a URL.
import { Api } from "./gql.js";

const STORAGE = "agentmem.explorer.key";

export function storedKey() {
  return sessionStorage.getItem(STORAGE);
}

export function forget() {
  sessionStorage.removeItem(STORAGE);
}

/** Checks a key against the service (mem0's ping); resolves to {key, principal}. */
export async function verify(key) {
  const api = new Api(key, () => {});
  const ping = await api.rest("/v1/ping/");
  return { key, principal: ping };
}

/** Shows the sign-in form until a key works; then calls onSignedIn({key, principal}). */
export function showSignIn(onSignedIn, message = "") {
  const section = document.getElementById("signin");
  const form = document.getElementById("signin-form");
  const input = document.getElementById("signin-key");
  const error = document.getElementById("signin-error");
  section.hidden = false;
  error.textContent = message;
  input.value = "";
  input.focus();
  form.onsubmit = async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const session = await verify(input.value.trim());
      sessionStorage.setItem(STORAGE, session.key);
      section.hidden = true;
      onSignedIn(session);
    } catch (e) {
      error.textContent = e.code === "UNAUTHENTICATED" || e.code === "HTTP_401" ? "This key was refused." : e.message;
    }
  };
}
