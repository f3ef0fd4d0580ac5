// AudioWorkletProcessor: float32 microphone samples at the context rate -> PCM16LE frames of
// `frameMs` milliseconds, each posted (transferred) to the main thread with its RMS level.

class PcmCaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const frameMs = (options && options.processorOptions && options.processorOptions.frameMs) || 40;
    this.frameSize = Math.max(128, Math.round((sampleRate * frameMs) / 1000));
    this.buffer = new Int16Array(this.frameSize);
    this.filled = 0;
    this.sumSquares = 0;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const channel = input[0];
    for (let i = 0; i < channel.length; i += 1) {
      let s = channel[i];
      if (s > 1) s = 1;
      else if (s < -1) s = -1;
      this.sumSquares += s * s;
      this.buffer[this.filled] = s < 0 ? s * 0x8000 : s * 0x7fff;
      this.filled += 1;
      if (this.filled === this.frameSize) {
        const rms = Math.sqrt(this.sumSquares / this.frameSize);
        const out = this.buffer;
        this.port.postMessage({ pcm: out.buffer, rms }, [out.buffer]);
        this.buffer = new Int16Array(this.frameSize);
        this.filled = 0;
        this.sumSquares = 0;
      }
    }
    return true;
  }
}

registerProcessor("lumina-pcm-capture", PcmCaptureProcessor);
