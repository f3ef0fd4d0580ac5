// Everything around the conversation that reports state: banners (health actions, microphone,
// sign-in), toasts, the connection pill, the engines panel and the internet indicator.

import { h, $ } from "./dom.js";

const ENGINE_NAMES = {
  stt: "Speech to text",
  llm: "Language model",
  tts: "Voice",
  embeddings: "Embeddings",
  store: "Store",
  search: "Web search",
};

export class Banners {
  constructor(root) {
    this.root = root;
    this.items = new Map(); // key -> element
  }

  /** Show (or replace) one banner; `level` is "error", "warning" or "info". */
  set(key, { level = "warning", title, text, action = null }) {
    const el = h(
      "div",
      { class: `banner ${level}`, role: level === "error" ? "alert" : "status", dataset: { key } },
      h("span", { class: "banner-icon", "aria-hidden": "true" }, level === "info" ? "i" : "!"),
      h(
        "div",
        { class: "banner-body" },
        title ? h("strong", {}, title) : null,
        text ? h("span", {}, text) : null,
        action ? h("span", { class: "banner-action" }, action) : null,
      ),
    );
    const old = this.items.get(key);
    if (old) old.replaceWith(el);
    else this.root.append(el);
    this.items.set(key, el);
  }

  clear(key) {
    const el = this.items.get(key);
    if (el) el.remove();
    this.items.delete(key);
  }

  clearPrefix(prefix) {
    for (const key of [...this.items.keys()]) if (key.startsWith(prefix)) this.clear(key);
  }

  has(key) {
    return this.items.has(key);
  }
}

export function toast(text, { level = "info", timeout = 5000 } = {}) {
  const el = h("div", { class: `toast ${level}` }, text);
  $("toasts").append(el);
  setTimeout(() => el.classList.add("leaving"), timeout);
  setTimeout(() => el.remove(), timeout + 400);
}

export function setConnection(state, label) {
  const pill = $("conn-status");
  pill.dataset.state = state;
  pill.textContent = label;
}

/** Render `/v1/health` (or `ready.health`) into the panel and one banner per problem. */
export function renderHealth(health, banners) {
  const list = $("health-list");
  const summary = $("health-summary");
  list.replaceChildren();
  banners.clearPrefix("engine:");
  const engines = (health && health.engines) || {};
  const loading = health && health.status === "loading";
  let problems = 0;
  for (const [name, engine] of Object.entries(engines)) {
    const ok = Boolean(engine.ok);
    if (!ok) problems += 1;
    const label = ENGINE_NAMES[name] || name;
    list.append(
      h(
        "li",
        { class: `engine ${ok ? "ok" : "bad"}`, dataset: { engine: name } },
        h("span", { class: "dot", "aria-hidden": "true" }),
        h("span", { class: "engine-name" }, label),
        h(
          "span",
          { class: "engine-model", title: engine.detail || engine.model || "" },
          ok ? engine.model || "ok" : engine.configured === false ? "not configured" : "unavailable",
        ),
      ),
    );
    if (!ok && !(name === "search" && engine.configured === false)) {
      banners.set(`engine:${name}`, {
        level: "warning",
        title: `${label}:`,
        text: engine.detail || (engine.reachable === false ? "not reachable" : "not working"),
        action: engine.action || null,
      });
    }
  }
  if (loading) {
    summary.textContent = "loading";
    summary.className = "badge info";
    banners.set("engine:loading", {
      level: "info",
      title: "Loading models…",
      text: "Lumina will answer as soon as they are ready.",
    });
  } else if (problems === 0 && Object.keys(engines).length) {
    summary.textContent = "all ok";
    summary.className = "badge ok";
  } else {
    summary.textContent = problems ? `${problems} problem${problems > 1 ? "s" : ""}` : "unknown";
    summary.className = problems ? "badge warn" : "badge muted";
  }
}

export function setInternet(on) {
  document.body.classList.toggle("internet-on", on);
  $("internet-banner").hidden = !on;
  $("internet-toggle").checked = on;
  $("internet-switch").classList.toggle("on", on);
}
