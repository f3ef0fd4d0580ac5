// Playback of the assistant's voice: PCM16LE chunks (one per `tts_chunk`) scheduled back to
// back on a Web Audio clock after a small jitter buffer. `stop()` silences everything at once.
// `playedSamples` counts samples whose play time has actually elapsed (a test hook).

const JITTER_SECONDS = 0.12; // buffer this much audio before starting a turn...
const JITTER_WAIT_MS = 150; // ...or wait at most this long for it
const LEAD_SECONDS = 0.04; // schedule this far ahead of the audio clock
export const LEAD_MS = LEAD_SECONDS * 1000;

export class Player {
  constructor(ctx, { onStateChange } = {}) {
    this.ctx = ctx;
    this.onStateChange = onStateChange || (() => {});
    this.output = ctx.createGain();
    this.output.connect(ctx.destination);
    this.queue = []; // decoded chunks waiting for the jitter buffer
    this.scheduled = []; // {source, start, end, samples, rate}
    this.nextTime = 0;
    this.played = 0; // samples of finished chunks
    this.waitTimer = null;
    this.tickTimer = null;
    this.playing = false;
    this.turnId = null;
    this.chunks = 0;
    this.stops = 0;
  }

  /** Samples (at each chunk's own rate) that have been played so far. */
  get playedSamples() {
    const now = this.ctx.currentTime;
    let total = this.played;
    for (const item of this.scheduled) {
      if (now > item.start) total += Math.min(item.samples, Math.floor((now - item.start) * item.rate));
    }
    return total;
  }

  /** Seconds of audio buffered or scheduled but not yet heard. */
  get pendingSeconds() {
    const now = this.ctx.currentTime;
    let seconds = this.queue.reduce((sum, b) => sum + b.duration, 0);
    for (const item of this.scheduled) seconds += Math.max(0, item.end - Math.max(now, item.start));
    return seconds;
  }

  get active() {
    return this.playing || this.queue.length > 0;
  }

  enqueue(turnId, pcm, sampleRate) {
    const samples = new Int16Array(pcm, 0, Math.floor(pcm.byteLength / 2));
    if (samples.length === 0) return;
    const buffer = this.ctx.createBuffer(1, samples.length, sampleRate);
    const data = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i += 1) data[i] = samples[i] / 32768;
    this.turnId = turnId;
    this.chunks += 1;
    this.queue.push(buffer);
    if (this.playing) {
      this.flush();
    } else if (this.queue.reduce((sum, b) => sum + b.duration, 0) >= JITTER_SECONDS) {
      this.begin();
    } else if (!this.waitTimer) {
      this.waitTimer = setTimeout(() => this.begin(), JITTER_WAIT_MS);
    }
  }

  /** The turn's audio is complete: play whatever is buffered without waiting. */
  drain() {
    if (!this.playing && this.queue.length) this.begin();
  }

  begin() {
    clearTimeout(this.waitTimer);
    this.waitTimer = null;
    if (this.queue.length === 0) return;
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    this.nextTime = this.ctx.currentTime + LEAD_SECONDS;
    this.setPlaying(true);
    this.flush();
  }

  flush() {
    const now = this.ctx.currentTime;
    if (this.nextTime < now + 0.01) this.nextTime = now + LEAD_SECONDS; // underrun: restart the clock
    while (this.queue.length) {
      const buffer = this.queue.shift();
      const source = this.ctx.createBufferSource();
      source.buffer = buffer;
      source.connect(this.output);
      const item = {
        source,
        start: this.nextTime,
        end: this.nextTime + buffer.duration,
        samples: buffer.length,
        rate: buffer.sampleRate,
      };
      source.onended = () => this.finished(item);
      source.start(item.start);
      this.scheduled.push(item);
      this.nextTime = item.end;
    }
    if (!this.tickTimer) this.tickTimer = setInterval(() => this.tick(), 100);
  }

  finished(item) {
    const index = this.scheduled.indexOf(item);
    if (index < 0) return;
    this.scheduled.splice(index, 1);
    this.played += item.samples;
    this.tick();
  }

  tick() {
    // `onended` is the normal path; this catches clocks that never fire it.
    const now = this.ctx.currentTime;
    for (const item of [...this.scheduled]) {
      if (now >= item.end + 0.25) this.finished(item);
    }
    if (this.scheduled.length === 0 && this.queue.length === 0 && this.playing) {
      clearInterval(this.tickTimer);
      this.tickTimer = null;
      this.setPlaying(false);
    }
  }

  /** Stop at once: silence what is playing and drop everything queued. */
  stop() {
    clearTimeout(this.waitTimer);
    this.waitTimer = null;
    const heard = this.playedSamples;
    const wasActive = this.active;
    for (const item of this.scheduled) {
      item.source.onended = null;
      try {
        item.source.stop();
      } catch {
        /* not started */
      }
      try {
        item.source.disconnect();
      } catch {
        /* already */
      }
    }
    this.scheduled = [];
    this.queue = [];
    this.played = heard;
    clearInterval(this.tickTimer);
    this.tickTimer = null;
    if (wasActive) this.stops += 1;
    this.setPlaying(false);
    return wasActive;
  }

  setPlaying(playing) {
    if (this.playing === playing) return;
    this.playing = playing;
    this.onStateChange(playing);
  }
}
