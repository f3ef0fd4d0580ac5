// The memory inspector: list, semantic search, delete; "forget me" behind a typed confirmation.

import { api } from "../api.js";
import { h, $, formatTime, formatMs } from "./dom.js";
import { toast } from "./status.js";

const CONFIRM_PHRASE = "forget me";

export class MemoryPanel {
  constructor({ onForgotten }) {
    this.onForgotten = onForgotten;
    this.list = $("memory-list");
    this.search = $("memory-search");
    this.count = $("memory-count");
    this.query = "";
    this.seq = 0;
    // conversation id -> Promise of its user turns by id (null when it is gone): each render
    // looks up the utterances its memories came from once per conversation
    this.conversations = new Map();
    this.timer = null;
    this.search.addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.refresh(), 250);
    });
    this.setupForget();
  }

  async refresh() {
    const query = this.search.value.trim();
    const seq = ++this.seq;
    this.list.setAttribute("aria-busy", "true");
    try {
      const memories = await api.memories(query);
      if (seq !== this.seq) return;
      this.query = query;
      this.render(Array.isArray(memories) ? memories : (memories && memories.items) || []);
    } catch (err) {
      if (seq !== this.seq) return;
      this.list.replaceChildren(h("li", { class: "memory-empty" }, err.action || err.message));
    } finally {
      if (seq === this.seq) this.list.removeAttribute("aria-busy");
    }
  }

  render(memories) {
    this.conversations = new Map();
    this.list.replaceChildren();
    this.count.textContent = String(memories.length);
    if (!memories.length) {
      this.list.append(
        h(
          "li",
          { class: "memory-empty" },
          this.query ? "No memory matches." : "Nothing remembered yet. Say “remember that …”.",
        ),
      );
      return;
    }
    for (const memory of memories) {
      const score =
        typeof memory.score === "number"
          ? h("span", { class: "score", title: "similarity" }, memory.score.toFixed(2))
          : null;
      const del = h(
        "button",
        {
          type: "button",
          class: "icon-button",
          title: "Delete this memory",
          "aria-label": `Delete memory: ${memory.text}`,
          onclick: () => this.remove(memory, item, del),
        },
        "×",
      );
      const source = h("div", { class: "memory-source" });
      const item = h(
        "li",
        { class: "memory", dataset: { memoryId: memory.id } },
        h("div", { class: "memory-text" }, memory.text),
        h(
          "div",
          { class: "memory-meta" },
          h("time", { datetime: memory.created_at }, formatTime(memory.created_at)),
          score,
        ),
        source,
        del,
      );
      this.list.append(item);
      this.showSource(memory.source || {}, source);
    }
  }

  /** Where a memory came from: the utterance it was taken from (its provenance). */
  async showSource({ conversation_id: conversationId, turn_id: turnId }, el) {
    if (!conversationId || !turnId) {
      el.textContent = "added by hand";
      return;
    }
    if (!this.conversations.has(conversationId)) {
      this.conversations.set(
        conversationId,
        api.conversation(conversationId).then(
          (c) => new Map((c.turns || []).filter((t) => t.role === "user").map((t) => [t.turn_id, t])),
          () => null,
        ),
      );
    }
    const turns = await this.conversations.get(conversationId);
    const turn = turns && turns.get(turnId);
    if (!turn) {
      el.textContent = "from a conversation that was deleted";
      return;
    }
    el.replaceChildren("from “", h("span", { class: "memory-utterance" }, turn.text), "”");
    el.title = `said ${formatTime(turn.at)}`;
  }

  async remove(memory, item, button) {
    button.disabled = true;
    item.classList.add("removing");
    try {
      await api.deleteMemory(memory.id);
      item.remove();
      toast("Memory deleted");
      await this.refresh();
    } catch (err) {
      item.classList.remove("removing");
      button.disabled = false;
      if (err.status === 404) {
        await this.refresh();
        return;
      }
      toast(`Could not delete: ${err.message}`, { level: "error" });
    }
  }

  setupForget() {
    const dialog = $("forget-dialog");
    const input = $("forget-confirm");
    const submit = $("forget-submit");
    const cancel = $("forget-cancel");
    const ask = $("forget-ask");
    const receipt = $("forget-receipt");
    const error = $("forget-error");
    $("forget-me").addEventListener("click", () => {
      input.value = "";
      submit.disabled = true;
      submit.hidden = false;
      ask.hidden = false;
      receipt.hidden = true;
      error.hidden = true;
      cancel.textContent = "Cancel";
      dialog.showModal();
      input.focus();
    });
    input.addEventListener("input", () => {
      submit.disabled = input.value.trim().toLowerCase() !== CONFIRM_PHRASE;
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        if (!submit.disabled) submit.click();
      }
    });
    cancel.addEventListener("click", () => dialog.close());
    submit.addEventListener("click", async () => {
      submit.disabled = true;
      error.hidden = true;
      try {
        const result = await api.forgetMe(input.value.trim().toLowerCase());
        ask.hidden = true;
        submit.hidden = true;
        cancel.textContent = "Close";
        receipt.replaceChildren(
          h(
            "p",
            { class: "receipt-title" },
            result.ok ? "Everything about you was forgotten." : "Forgetting did not complete.",
          ),
          h(
            "dl",
            {},
            h("dt", {}, "Forgotten at"),
            h("dd", { title: result.forgotten_at }, new Date(result.forgotten_at).toLocaleString()),
            h("dt", {}, "Events shredded"),
            h("dd", { dataset: { field: "events_shredded" } }, String(result.events_shredded)),
            h("dt", {}, "Rows purged"),
            h("dd", { dataset: { field: "rows_purged" } }, String(result.rows_purged)),
            h("dt", {}, "Destroyed key"),
            h("dd", { class: "mono" }, result.key_id),
            h("dt", {}, "Took"),
            h("dd", {}, formatMs(result.duration_ms)),
          ),
        );
        receipt.hidden = false;
        this.onForgotten(result);
        await this.refresh();
      } catch (err) {
        error.textContent = err.action ? `${err.message}. ${err.action}` : err.message;
        error.hidden = false;
        submit.disabled = false;
      }
    });
  }
}
