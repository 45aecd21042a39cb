// The trigger service's JSON API. `api(path, ...)` carries the API key the user logged in with,
// shows "API unreachable" in the top bar while the network fails, and hands a 401 to the
// handler `onUnauthorized` registers (the login form: lib/login.js).

// the API's execution statuses
export const TERMINAL = new Set(["completed", "failed", "cancelled", "timed_out"]);
export const RETRYABLE = new Set(["failed", "cancelled", "timed_out"]);
export const STATUSES = ["pending", "running", "paused", "completed", "failed", "cancelled", "timed_out"];
export const enc = encodeURIComponent;

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

function setConnection(problem) {
  const conn = document.getElementById("conn");
  conn.hidden = !problem;
  conn.textContent = problem ? `API unreachable (${problem}), retrying…` : "";
}

// With access control on, every API call carries the key the user logged in with (kept in
// sessionStorage: gone with the tab); an answer 401 shows the login form instead of the page.
export const KEY_STORAGE = "workflows.apiKey";

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

let unauthorized = () => {};

// `fn(message)` runs on every 401 answer: the API's reason, or "" when no key is set yet.
export function onUnauthorized(fn) {
  unauthorized = fn;
}

// `body` goes as JSON; `text` as it is, with `contentType` (a definition's YAML, say)
export async function api(path, { method = "GET", body, text: sent, contentType } = {}) {
  const init = { method, headers: { Accept: "application/json" } };
  if (apiKey()) init.headers.Authorization = `Bearer ${apiKey()}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  } else if (sent !== undefined) {
    init.headers["Content-Type"] = contentType || "text/plain";
    init.body = sent;
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    setConnection(err.message || "network error");
    throw err;
  }
  setConnection(null);
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text };
    }
  }
  // no key yet: the form alone, no error before any input; a refused key: the API's reason
  if (res.status === 401) unauthorized(apiKey() ? (data && data.error) || "that API key was refused" : "");
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}
