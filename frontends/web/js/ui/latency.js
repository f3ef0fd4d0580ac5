// The latency panel: the last turn's stages and p50/p95 over recent turns.

import { h, $, formatMs } from "./dom.js";

const STAGES = [
  ["endpoint_ms", "Endpoint"],
  ["stt_ms", "Transcribe"],
  ["llm_first_token_ms", "First token"],
  ["first_sentence_ms", "First sentence"],
  ["tts_first_audio_ms", "First audio"],
  ["voice_to_voice_ms", "Voice to voice"],
  ["total_ms", "Total"],
];

export class LatencyPanel {
  constructor() {
    this.last = null;
    this.metrics = null;
    this.heardMs = null; // this browser: end of speech (or typed turn sent) -> the reply is heard
  }

  setHeard(ms) {
    this.heardMs = ms;
    this.render();
  }

  setLast(timing) {
    this.last = timing;
    this.render();
  }

  setMetrics(metrics) {
    this.metrics = metrics;
    this.render();
  }

  stage(name) {
    const stages = (this.metrics && this.metrics.stages) || {};
    return stages[name] || stages[name.replace(/_ms$/, "")] || null;
  }

  render() {
    const body = $("latency-body");
    body.replaceChildren();
    for (const [key, label] of STAGES) {
      const last = this.last ? this.last[key] : null;
      const stats = this.stage(key);
      if (last == null && !(stats && stats.p50_ms != null)) continue;
      body.append(
        h(
          "tr",
          { dataset: { stage: key }, class: key === "voice_to_voice_ms" ? "key" : null },
          h("th", { scope: "row" }, label),
          h("td", { class: "last" }, formatMs(last)),
          h("td", {}, formatMs(stats ? stats.p50_ms : null)),
          h("td", {}, formatMs(stats ? stats.p95_ms : null)),
        ),
      );
    }
    if (this.heardMs != null) {
      body.append(
        h(
          "tr",
          { dataset: { stage: "heard_in_browser_ms" }, class: "browser" },
          h(
            "th",
            {
              scope: "row",
              title: "From the end of your speech (or your typed message) to the first sound, measured here",
            },
            "Heard here",
          ),
          h("td", { class: "last" }, formatMs(this.heardMs)),
          h("td", {}, ""),
          h("td", {}, ""),
        ),
      );
    }
    if (!body.children.length) {
      body.append(
        h("tr", { class: "placeholder" }, h("td", { colspan: 4 }, "Speak or type to measure a turn.")),
      );
    }
    const turns = this.metrics ? this.metrics.turns : 0;
    const badge = $("latency-turns");
    badge.textContent = turns ? `${turns} turn${turns > 1 ? "s" : ""}` : "no turns yet";
  }
}
