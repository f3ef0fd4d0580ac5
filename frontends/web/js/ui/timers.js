// Timers and reminders: GET /v1/timers, then the session's `timer` messages (set, fired,
// cancelled); each running timer counts down and can be cancelled (DELETE /v1/timers/{id}).

import { api } from "../api.js";
import { h, $ } from "./dom.js";
import { toast } from "./status.js";

function remaining(dueAt) {
  const seconds = Math.max(0, Math.round((new Date(dueAt).getTime() - Date.now()) / 1000));
  const h_ = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h_ ? `${h_}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export class TimerPanel {
  constructor() {
    this.list = $("timer-list");
    this.count = $("timer-count");
    this.timers = new Map(); // id -> {id, label, due_at}: the running ones
    setInterval(() => this.tick(), 1000);
  }

  async refresh() {
    try {
      const timers = await api.timers();
      this.timers = new Map(
        (timers || []).filter((t) => t.state === "set").map((t) => [t.id, t]),
      );
    } catch {
      /* loading, or an older daemon: the session's messages still fill the panel */
    }
    this.render();
  }

  /** A `timer` message of the session. */
  update(msg) {
    if (msg.state === "set") {
      this.timers.set(msg.timer_id, { id: msg.timer_id, label: msg.label, due_at: msg.due_at });
    } else {
      this.timers.delete(msg.timer_id);
      if (msg.state === "fired") toast(`⏰ ${msg.label || "Timer"}: time is up`, { timeout: 15000 });
    }
    this.render();
  }

  render() {
    const timers = [...this.timers.values()].sort((a, b) => a.due_at.localeCompare(b.due_at));
    this.count.textContent = String(timers.length);
    if (!timers.length) {
      this.list.replaceChildren(
        h("li", { class: "memory-empty" }, "No timers. Say “set a timer for five minutes”."),
      );
      return;
    }
    this.list.replaceChildren(
      ...timers.map((t) =>
        h(
          "li",
          { class: "timer", dataset: { timerId: t.id } },
          h("span", { class: "timer-label" }, t.label || "Timer"),
          h("time", { class: "timer-left", datetime: t.due_at }, remaining(t.due_at)),
          h(
            "button",
            {
              type: "button",
              class: "icon-button",
              title: "Cancel this timer",
              "aria-label": `Cancel timer: ${t.label || "timer"}`,
              onclick: () => this.cancel(t),
            },
            "×",
          ),
        ),
      ),
    );
  }

  tick() {
    for (const el of this.list.querySelectorAll(".timer-left")) {
      el.textContent = remaining(el.getAttribute("datetime"));
    }
  }

  async cancel(timer) {
    try {
      await api.cancelTimer(timer.id);
      this.timers.delete(timer.id);
      this.render();
    } catch (err) {
      if (err.status === 404) await this.refresh();
      else toast(`Could not cancel: ${err.message}`, { level: "error" });
    }
  }
}
