// Client-side voice activity (pure, no I/O): an energy detector with an adaptive noise floor.
// Used for hands-free mode (speech start -> stream; silence timer -> `end`) and for barge-in.

export class EnergyVad {
  constructor({
    frameMs = 40,
    minDb = -50, // never call anything quieter than this speech
    marginDb = 12, // speech must be this far above the noise floor
    echoGuardDb = 8, // extra margin while the assistant is speaking
    onsetMs = 120, // this much loud audio starts speech
    silenceMs = 900, // this much quiet audio ends it (the client-side silence timer)
    maxUtteranceMs = 30000,
  } = {}) {
    Object.assign(this, { frameMs, minDb, marginDb, echoGuardDb, onsetMs, silenceMs, maxUtteranceMs });
    this.reset();
  }

  reset() {
    this.floorDb = -70;
    this.speaking = false;
    this.loudMs = 0;
    this.quietMs = 0;
    this.utteranceMs = 0;
    this.lastDb = -100;
  }

  static toDb(rms) {
    return Math.max(-100, 20 * Math.log10(rms + 1e-10));
  }

  threshold(echoGuard = false) {
    return Math.max(this.minDb, this.floorDb + this.marginDb) + (echoGuard ? this.echoGuardDb : 0);
  }

  /** Feed one frame's RMS; returns "start", "end" or null. */
  update(rms, { echoGuard = false } = {}) {
    const db = EnergyVad.toDb(rms);
    this.lastDb = db;
    const loud = db >= this.threshold(echoGuard);
    if (!this.speaking) {
      if (!loud) {
        // track the noise floor while nobody speaks (fast down, slow up)
        const rate = db < this.floorDb ? 0.3 : 0.02;
        this.floorDb += rate * (db - this.floorDb);
        this.loudMs = 0;
        return null;
      }
      this.loudMs += this.frameMs;
      if (this.loudMs >= this.onsetMs) {
        this.speaking = true;
        this.quietMs = 0;
        this.utteranceMs = this.loudMs;
        return "start";
      }
      return null;
    }
    this.utteranceMs += this.frameMs;
    this.quietMs = loud ? 0 : this.quietMs + this.frameMs;
    if (this.quietMs >= this.silenceMs || this.utteranceMs >= this.maxUtteranceMs) {
      this.speaking = false;
      this.loudMs = 0;
      this.quietMs = 0;
      return "end";
    }
    return null;
  }
}
