// HTTP client for the daemon's JSON API (PROTOCOL.md "HTTP"). Same origin: the
// `lumina_session` cookie set by `GET /login?token=...` authenticates every call.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || (status === 401 ? "unauthorized" : "internal");
    this.action = (body && body.action) || null;
  }
}

async function request(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
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
  memories: (q) => request("GET", q ? `/v1/memories?q=${encodeURIComponent(q)}` : "/v1/memories"),
  deleteMemory: (id) => request("DELETE", `/v1/memories/${encodeURIComponent(id)}`),
  forgetMe: (confirm) => request("POST", "/v1/forget-me", { confirm }),
  timers: () => request("GET", "/v1/timers"),
  cancelTimer: (id) => request("DELETE", `/v1/timers/${encodeURIComponent(id)}`),
};
