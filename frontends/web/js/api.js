// HTTP client for the daemon's JSON API (PROTOCOL.md "HTTP"), and the page's login.
// No cookie (a cookie reaches every port of 127.0.0.1): the link `lumina open` prints carries a
// one-time code in its fragment (`#login=...`, never sent to a server); `login()` trades it at
// `POST /login` for a session credential kept in this tab's sessionStorage (per origin, so
// other ports cannot read it) and sent as `Authorization: Bearer ...` and, for the WebSocket,
// as the subprotocol `lumina.session.<credential>` next to `lumina.v1`.

const SESSION_KEY = "lumina.session";

export function sessionCredential() {
  return sessionStorage.getItem(SESSION_KEY);
}

// The WebSocket subprotocols that authenticate this page's voice session.
export function sessionProtocols() {
  const session = sessionCredential();
  return session ? ["lumina.v1", `lumina.session.${session}`] : ["lumina.v1"];
}

// Trades a login code in the URL fragment for a session credential; the fragment is removed
// from the address bar and the history at once. Resolves to true when a code was redeemed.
export async function login(loc = window.location) {
  const params = new URLSearchParams(loc.hash.replace(/^#/, ""));
  const code = params.get("login");
  if (!code) return false;
  history.replaceState(null, "", loc.pathname + loc.search);
  const data = await request("POST", "/login", { code });
  sessionStorage.setItem(SESSION_KEY, data.session);
  return true;
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || (status === 401 ? "unauthorized" : "internal");
    this.action = (body && body.action) || null;
  }
}

async function request(method, path, body) {
  const init = { method, credentials: "omit", headers: { Accept: "application/json" } };
  const session = sessionCredential();
  if (session) init.headers.Authorization = `Bearer ${session}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, {
      code: "unreachable",
      message: "Lumina is not reachable",
      action: "Start it: luminad serve",
    });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const api = {
  health: () => request("GET", "/v1/health"),
  avatars: () => request("GET", "/v1/avatars"),
  createAvatar: (avatar) => request("POST", "/v1/avatars", avatar),
  updateAvatar: (id, changes) => request("PATCH", `/v1/avatars/${encodeURIComponent(id)}`, changes),
  latency: () => request("GET", "/v1/metrics/latency"),
  conversation: (id) => request("GET", `/v1/conversations/${encodeURIComponent(id)}`),
  deleteConversation: (id) => request("DELETE", `/v1/conversations/${encodeURIComponent(id)}`),
  memories: (q) => request("GET", q ? `/v1/memories?q=${encodeURIComponent(q)}` : "/v1/memories"),
  deleteMemory: (id) => request("DELETE", `/v1/memories/${encodeURIComponent(id)}`),
  forgetMe: (confirm) => request("POST", "/v1/forget-me", { confirm }),
  timers: () => request("GET", "/v1/timers"),
  egress: () => request("GET", "/v1/egress"),
  cancelTimer: (id) => request("DELETE", `/v1/timers/${encodeURIComponent(id)}`),
};
