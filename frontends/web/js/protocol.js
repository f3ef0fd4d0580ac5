// The voice-session client (PROTOCOL.md "Voice session"): one WebSocket, JSON text frames
// tagged by `type`, binary frames for audio. A `tts_chunk` header is paired with the binary
// frame that follows it and delivered as one "audio" event.

export const PROTOCOL_VERSION = 1;

export function sessionUrl(loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/v1/session`;
}

export class SessionClient {
  // `protocols()` gives the WebSocket subprotocols of each connection (they carry the login).
  constructor(url, protocols = () => []) {
    this.url = url;
    this.protocols = protocols;
    this.ws = null;
    this.handlers = new Map();
    this.pendingChunk = null;
    this.stats = { audioFrames: 0, audioBytes: 0, sent: {}, received: {} };
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
    return this;
  }

  emit(type, detail) {
    for (const fn of this.handlers.get(type) || []) {
      try {
        fn(detail);
      } catch (err) {
        console.error(`lumina: ${type} handler failed`, err);
      }
    }
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect(hello) {
    this.close();
    const ws = new WebSocket(this.url, this.protocols());
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.pendingChunk = null;
    ws.onopen = () => {
      this.send({ type: "hello", protocol: PROTOCOL_VERSION, client: "web", ...hello });
      this.emit("open");
    };
    ws.onmessage = (event) => this.onFrame(event.data);
    ws.onerror = () => this.emit("socket-error");
    ws.onclose = (event) => {
      if (this.ws === ws) this.ws = null;
      this.emit("close", { code: event.code, reason: event.reason, clean: event.wasClean });
    };
  }

  onFrame(data) {
    if (typeof data !== "string") {
      const header = this.pendingChunk;
      this.pendingChunk = null;
      if (header) this.emit("audio", { header, pcm: data });
      return;
    }
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== "string") return;
    this.stats.received[msg.type] = (this.stats.received[msg.type] || 0) + 1;
    if (msg.type === "tts_chunk") {
      this.pendingChunk = msg; // its PCM arrives in the next (binary) frame
      return;
    }
    this.emit("message", msg);
    this.emit(msg.type, msg);
  }

  send(msg) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(msg));
    this.stats.sent[msg.type] = (this.stats.sent[msg.type] || 0) + 1;
    return true;
  }

  /** One binary frame of PCM16LE mono at hello.sample_rate (an ArrayBuffer or typed array). */
  sendAudio(pcm) {
    if (!this.isOpen) return false;
    this.ws.send(pcm);
    this.stats.audioFrames += 1;
    this.stats.audioBytes += pcm.byteLength;
    return true;
  }

  close(code = 1000) {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(code);
      } catch {
        /* already closed */
      }
    }
  }
}
