// The transcript: history, the live partial transcript, streaming assistant text.

import { h, $, formatTime } from "./dom.js";

export class Transcript {
  constructor(root) {
    this.root = root;
    this.empty = $("empty-state");
    this.byKey = new Map(); // `${role}:${turn_id}` -> message element
    this.pendingTyped = []; // local bubbles of typed turns awaiting their turn_id
    this.assistantName = "Lumina";
  }

  clear() {
    for (const el of this.byKey.values()) el.remove();
    for (const el of this.pendingTyped) el.remove();
    this.root.querySelectorAll(".msg").forEach((el) => el.remove());
    this.byKey.clear();
    this.pendingTyped = [];
    this.updateEmpty();
  }

  updateEmpty() {
    this.empty.hidden = this.root.querySelector(".msg") !== null;
  }

  scroll() {
    this.root.scrollTop = this.root.scrollHeight;
  }

  bubble(role, text, { at = null, classes = "" } = {}) {
    const body = h("div", { class: "msg-text" }, text);
    const meta = h(
      "div",
      { class: "msg-meta" },
      h("span", { class: "msg-who" }, role === "user" ? "You" : this.assistantName),
      at ? h("time", { datetime: at }, formatTime(at)) : null,
    );
    const el = h("article", { class: `msg ${role} ${classes}`.trim(), dataset: { role } }, meta, body);
    this.root.append(el);
    this.updateEmpty();
    this.scroll();
    return el;
  }

  setText(el, text) {
    el.querySelector(".msg-text").textContent = text;
  }

  replay(history) {
    this.clear();
    for (const turn of history || []) {
      const el = this.bubble(turn.role, turn.text, { at: turn.at, classes: "history" });
      el.dataset.turnId = turn.turn_id;
      this.byKey.set(`${turn.role}:${turn.turn_id}`, el);
    }
  }

  /** The user's words while they speak (several updates per second). */
  partial(turnId, text) {
    const key = `user:${turnId}`;
    let el = this.byKey.get(key);
    if (!el) {
      el = this.bubble("user", text, { classes: "partial" });
      el.dataset.turnId = turnId;
      this.byKey.set(key, el);
    } else if (el.classList.contains("partial")) {
      this.setText(el, text);
    }
    this.scroll();
  }

  final(turnId, text) {
    const key = `user:${turnId}`;
    let el = this.byKey.get(key);
    if (!el) {
      // a typed turn comes back with its turn_id: adopt the local bubble instead of doubling it
      const index = this.pendingTyped.findIndex((p) => p.dataset.text === text);
      if (index >= 0) {
        el = this.pendingTyped.splice(index, 1)[0];
      } else {
        el = this.bubble("user", text);
      }
      this.byKey.set(key, el);
    }
    el.classList.remove("partial", "pending");
    el.dataset.turnId = turnId;
    this.setText(el, text);
    this.setTime(el, new Date().toISOString());
    this.scroll();
  }

  typed(text) {
    const el = this.bubble("user", text, { classes: "pending" });
    el.dataset.text = text;
    this.pendingTyped.push(el);
    this.setTime(el, new Date().toISOString());
    return el;
  }

  /** Mark the partial bubble of a turn that produced no words as gone. */
  dropPartial(turnId) {
    const key = `user:${turnId}`;
    const el = this.byKey.get(key);
    if (el && el.classList.contains("partial")) {
      el.remove();
      this.byKey.delete(key);
      this.updateEmpty();
    }
  }

  setTime(el, iso) {
    const meta = el.querySelector(".msg-meta");
    let time = meta.querySelector("time");
    if (!time) {
      time = h("time");
      meta.append(time);
    }
    time.setAttribute("datetime", iso);
    time.textContent = formatTime(iso);
  }

  assistantElement(turnId) {
    const key = `assistant:${turnId}`;
    let el = this.byKey.get(key);
    if (!el) {
      // typed turns may get their assistant reply before (or without) a final transcript
      if (!this.byKey.has(`user:${turnId}`) && this.pendingTyped.length) {
        const typed = this.pendingTyped.shift();
        typed.classList.remove("pending");
        typed.dataset.turnId = turnId;
        this.byKey.set(`user:${turnId}`, typed);
      }
      el = this.bubble("assistant", "", { classes: "streaming" });
      el.dataset.turnId = turnId;
      this.byKey.set(key, el);
    }
    return el;
  }

  delta(turnId, text) {
    const el = this.assistantElement(turnId);
    if (!el.classList.contains("streaming")) return;
    const body = el.querySelector(".msg-text");
    body.textContent += text;
    this.scroll();
  }

  done(turnId, text, sources) {
    const el = this.assistantElement(turnId);
    if (el.classList.contains("interrupted")) return;
    el.classList.remove("streaming");
    this.setText(el, text);
    this.setTime(el, new Date().toISOString());
    if (sources && sources.length) {
      const list = h(
        "ul",
        { class: "sources" },
        sources.map((s) =>
          h(
            "li",
            {},
            h("a", { href: s.url, target: "_blank", rel: "noopener noreferrer" }, s.title || s.url),
          ),
        ),
      );
      el.append(list);
    }
    this.scroll();
  }

  /** A tool that ran in this turn (a local intent or the model's call), shown in its reply. */
  toolCall(turnId, name, args, result) {
    const el = this.assistantElement(turnId);
    let list = el.querySelector(".tool-calls");
    if (!list) {
      list = h("ul", { class: "tool-calls", "aria-label": "Tools used" });
      el.querySelector(".msg-text").before(list);
    }
    const shown = Object.entries(args || {})
      .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
      .join(", ");
    list.append(
      h(
        "li",
        { class: "tool-call", dataset: { tool: name } },
        h("span", { class: "tool-name" }, name),
        shown ? h("span", { class: "tool-args" }, `(${shown})`) : null,
        result ? h("span", { class: "tool-result" }, ` → ${result}`) : null,
      ),
    );
    this.scroll();
  }

  interrupted(turnId, heardText) {
    const el = this.byKey.get(`assistant:${turnId}`);
    if (!el) return;
    el.classList.remove("streaming");
    el.classList.add("interrupted");
    if (heardText !== undefined && heardText !== null) this.setText(el, heardText || "…");
    if (!el.querySelector(".msg-flag")) {
      el.querySelector(".msg-meta").append(h("span", { class: "msg-flag" }, "interrupted"));
    }
  }

  failed(turnId) {
    const el = this.byKey.get(`assistant:${turnId}`);
    if (el && el.classList.contains("streaming")) {
      el.classList.remove("streaming");
      if (!el.querySelector(".msg-text").textContent) el.remove();
    }
    for (const typed of this.pendingTyped.splice(0)) typed.classList.remove("pending");
    this.updateEmpty();
  }
}
