// Voice input: when microphone frames become an utterance. Push-to-talk (button or space bar)
// captures while held; hands-free captures from the energy detector's speech start (with a short
// pre-roll) until its silence timer, then asks for `end`. Starting to capture is a barge-in.

import { EnergyVad } from "./vad.js";

export class VoiceInput {
  /**
   * @param {object} deps
   * @param {() => Promise<boolean>} deps.openMic   open the microphone (false: unavailable)
   * @param {(pcm: ArrayBuffer) => boolean} deps.send  send one PCM16 frame
   * @param {(speechEndedAt: number) => void} deps.end  the utterance is over and frames were sent
   *     (performance.now() of its last loud frame)
   * @param {() => void} deps.bargeIn     the user starts to speak: stop the assistant
   * @param {() => boolean} deps.isPlaying  the assistant is audible (raises the speech threshold)
   * @param {() => void} deps.onChange    capture state or mode changed
   * @param {(level: number) => void} deps.onLevel  input level 0..1, per frame
   */
  constructor({ openMic, send, end, bargeIn, isPlaying, onChange, onLevel, frameMs = 40, prerollMs = 320 }) {
    Object.assign(this, { openMic, send, end, bargeIn, isPlaying, onChange, onLevel });
    this.vad = new EnergyVad({ frameMs });
    this.prerollFrames = Math.ceil(prerollMs / frameMs);
    this.mode = "ptt"; // "ptt" | "handsfree"
    this.capturing = null; // null | "ptt" | "vad"
    this.frames = 0; // frames sent in the current utterance
    this.preroll = [];
    this.lastSpeechAt = null; // performance.now() of the last loud frame of this utterance
  }

  /** One microphone frame (PCM16LE at the context rate) and its RMS level. */
  onFrame(pcm, rms) {
    const db = EnergyVad.toDb(rms);
    this.onLevel(Math.min(1, Math.max(0, (db + 60) / 50)));
    if (this.capturing && db >= this.vad.threshold()) this.lastSpeechAt = performance.now();
    if (this.capturing === "ptt") {
      this.sendFrame(pcm);
      return;
    }
    if (this.mode !== "handsfree") return;
    const edge = this.vad.update(rms, { echoGuard: this.isPlaying() });
    if (this.capturing === "vad") {
      this.sendFrame(pcm);
      if (edge === "end") this.stopCapture();
      return;
    }
    this.preroll.push(pcm);
    if (this.preroll.length > this.prerollFrames) this.preroll.shift();
    if (edge === "start") {
      this.startCapture("vad");
      for (const frame of this.preroll.splice(0)) this.sendFrame(frame);
    }
  }

  sendFrame(pcm) {
    if (this.send(pcm)) this.frames += 1;
  }

  startCapture(source) {
    if (this.capturing) return;
    this.bargeIn();
    this.capturing = source;
    this.frames = 0;
    this.lastSpeechAt = null;
    this.onChange();
  }

  stopCapture() {
    if (!this.capturing) return;
    const sent = this.frames > 0;
    this.capturing = null;
    this.frames = 0;
    if (sent) this.end(this.lastSpeechAt ?? performance.now());
    this.onChange();
  }

  async pttDown() {
    if (this.capturing === "ptt") return;
    if (this.capturing === "vad") this.stopCapture();
    this.startCapture("ptt"); // frames flow as soon as the microphone is open
    if (!(await this.openMic()) && this.capturing === "ptt") {
      this.capturing = null;
      this.onChange();
    }
  }

  pttUp() {
    if (this.capturing === "ptt") this.stopCapture();
  }

  async setMode(mode) {
    if (mode === this.mode) return;
    if (this.capturing === "vad") this.stopCapture();
    this.mode = mode;
    this.vad.reset();
    this.preroll = [];
    this.onChange();
    if (mode === "handsfree" && !(await this.openMic())) {
      this.mode = "ptt";
      this.onChange();
    }
  }
}
