// The microphone's samples -> 100 ms frames of 16 kHz PCM16 (little-endian, mono), what /v1/audio/stream takes.
// Loaded twice: by the page (the ScriptProcessor fallback uses Downsampler on the main thread) and as the
// AudioWorklet module (registerProcessor exists only there), so both paths cut frames the same way.
"use strict";

const PCM16_RATE = 16000;

// Channels averaged to mono, then each output sample the mean of the input samples in its 1/16000 s: a box
// filter, enough against aliasing for speech at 44.1/48 kHz in (little of it lies above 8 kHz).
class Downsampler {
  constructor(inRate, onFrame, frameMs = 100) {
    this.ratio = inRate / PCM16_RATE; // input samples per output sample
    this.onFrame = onFrame; // (ArrayBuffer of Int16 samples) => void
    this.size = Math.round(PCM16_RATE * frameMs / 1000);
    this.frame = new Int16Array(this.size);
    this.n = 0;
    this.t = 0; // input samples into the current output sample
    this.sum = 0;
    this.count = 0;
    this.last = 0;
  }

  push(channels) { // [Float32Array, ...], one per channel, of equal length
    const k = channels.length, len = k ? channels[0].length : 0;
    for (let i = 0; i < len; i++) {
      let x = 0;
      for (let c = 0; c < k; c++) x += channels[c][i];
      this.sum += x / k;
      this.count++;
      this.t += 1;
      while (this.t >= this.ratio) { // more than once only below 16 kHz in: the sample is repeated
        this.t -= this.ratio;
        if (this.count) { this.last = this.sum / this.count; this.sum = 0; this.count = 0; }
        this.emit(this.last);
      }
    }
  }

  emit(x) {
    const v = Math.max(-1, Math.min(1, x));
    this.frame[this.n++] = v < 0 ? v * 0x8000 : v * 0x7fff;
    if (this.n === this.size) this.flush();
  }

  flush() {
    const out = this.frame.slice(0, this.n);
    this.n = 0;
    this.onFrame(out.buffer);
  }
}

if (typeof AudioWorkletProcessor !== "undefined") {
  // In the audio thread: each frame posted to the page, which sends it. (What is left when the page stops, under
  // 100 ms, is dropped: Stop comes after the speech.)
  class PCM16Frames extends AudioWorkletProcessor {
    constructor() {
      super();
      this.down = new Downsampler(sampleRate, (buf) => this.port.postMessage(buf, [buf]));
    }

    process(inputs) {
      if (inputs[0] && inputs[0].length) this.down.push(inputs[0]);
      return true;
    }
  }
  registerProcessor("pcm16-frames", PCM16Frames);
}
