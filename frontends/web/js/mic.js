// Microphone: getUserMedia (echo cancellation and noise suppression on) -> AudioWorklet ->
// PCM16LE frames at the AudioContext's rate, delivered to `onFrame(ArrayBuffer, rms)`.

export class MicUnavailable extends Error {
  constructor(message, kind) {
    super(message);
    this.kind = kind; // "none" | "denied" | "unsupported" | "failed"
  }
}

/** True when the browser reports at least one audio input (no permission needed). */
export async function hasMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return false;
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.some((d) => d.kind === "audioinput");
  } catch {
    return false;
  }
}

export class Microphone {
  constructor(ctx, { frameMs = 40, onFrame }) {
    this.ctx = ctx;
    this.frameMs = frameMs;
    this.onFrame = onFrame;
    this.stream = null;
    this.node = null;
    this.source = null;
    this.starting = null;
  }

  get active() {
    return this.node !== null;
  }

  start() {
    if (this.active) return Promise.resolve();
    if (!this.starting) {
      this.starting = this.open().finally(() => {
        this.starting = null;
      });
    }
    return this.starting;
  }

  async open() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !this.ctx.audioWorklet) {
      throw new MicUnavailable("This browser cannot capture audio here", "unsupported");
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
        video: false,
      });
    } catch (err) {
      const denied = err && (err.name === "NotAllowedError" || err.name === "SecurityError");
      const none = err && (err.name === "NotFoundError" || err.name === "OverconstrainedError");
      throw new MicUnavailable(
        err && err.message ? err.message : String(err),
        denied ? "denied" : none ? "none" : "failed",
      );
    }
    await this.ctx.audioWorklet.addModule(new URL("./mic-worklet.js", import.meta.url));
    const source = this.ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(this.ctx, "lumina-pcm-capture", {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      channelCount: 1,
      channelCountMode: "explicit",
      processorOptions: { frameMs: this.frameMs },
    });
    node.port.onmessage = (event) => this.onFrame(event.data.pcm, event.data.rms);
    source.connect(node);
    this.stream = stream;
    this.source = source;
    this.node = node;
    for (const track of stream.getAudioTracks()) {
      track.addEventListener("ended", () => this.stop());
    }
  }

  stop() {
    if (this.node) {
      this.node.port.onmessage = null;
      try {
        this.source.disconnect();
      } catch {
        /* already */
      }
    }
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.source = null;
    this.node = null;
  }
}
