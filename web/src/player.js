// A playback-only media manager for @pipecat-ai/websocket-transport.
//
// The transport's own choices don't fit an offline, listen-only page:
// DailyMediaManager (the default) loads Daily's call bundle from a CDN, and
// WavMediaManager starts a microphone recorder in initialize(). This class
// implements the same interface (the transport duck-types it; the abstract
// base class isn't exported) with no recorder at all: it only schedules the
// bot's 16-bit PCM on a Web Audio graph, through an AnalyserNode whose level
// drives the page's meter and speaking animation.

const NO_DEVICE = {};

export class PlaybackMediaManager {
  /** @param {number} sampleRate rate of the PCM the server sends (Local Duel: 24 kHz) */
  constructor(sampleRate = 24000) {
    this.sampleRate = sampleRate;
    this.context = null;
    this.analyser = null;
    this._sources = new Set();
    this._nextTime = 0;
    this._options = null;
    this._callbacks = {};
    this._supportsScreenShare = false;
  }

  // Create (or wake) the AudioContext. Call it from a click handler too:
  // browsers only let a user gesture start audio.
  unlock() {
    if (!this.context) {
      this.context = new AudioContext();
      this.analyser = this.context.createAnalyser();
      this.analyser.fftSize = 1024;
      this.analyser.connect(this.context.destination);
    }
    if (this.context.state === "suspended") this.context.resume();
    return this.context;
  }

  /** RMS of what is playing right now, 0…1. */
  level() {
    if (!this.analyser) return 0;
    const samples = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    return Math.sqrt(sum / samples.length);
  }

  /** Seconds of audio scheduled but not yet played. */
  buffered() {
    return this.context ? Math.max(0, this._nextTime - this.context.currentTime) : 0;
  }

  /** Silence everything scheduled (Stop). */
  stop() {
    for (const source of this._sources) source.stop();
    this._sources.clear();
    this._nextTime = 0;
  }

  // --- the MediaManager interface the transport calls ---

  setUserAudioCallback() {} // nothing is recorded, so there is nothing to send

  setClientOptions(options, override = false) {
    if (this._options && !override) return;
    this._options = options;
    this._callbacks = options.callbacks ?? {};
  }

  async initialize() {
    this.unlock();
  }

  async connect() {
    this.unlock();
  }

  // Audio already scheduled keeps playing: the server closes the socket right
  // after the last line, whose tail must still be heard. Stop calls stop().
  async disconnect() {}

  async userStartedSpeaking() {
    this.stop();
  }

  bufferBotAudio(data) {
    const pcm = data instanceof Int16Array ? data : new Int16Array(data);
    if (!pcm.length) return pcm;
    const context = this.unlock();
    const buffer = context.createBuffer(1, pcm.length, this.sampleRate);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) channel[i] = pcm[i] / 32768;
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.analyser);
    // Chunks play back to back; after a gap, start 50 ms ahead to absorb jitter.
    const start = Math.max(this._nextTime, context.currentTime + 0.05);
    source.start(start);
    this._nextTime = start + buffer.duration;
    this._sources.add(source);
    source.onended = () => this._sources.delete(source);
    return pcm;
  }

  async getAllMics() { return []; }
  async getAllCams() { return []; }
  async getAllSpeakers() { return []; }
  updateMic() {}
  updateCam() {}
  updateSpeaker() {}
  get selectedMic() { return NO_DEVICE; }
  get selectedCam() { return NO_DEVICE; }
  get selectedSpeaker() { return NO_DEVICE; }
  enableMic() {}
  enableCam() {}
  enableScreenShare() {}
  get isCamEnabled() { return false; }
  get isMicEnabled() { return false; }
  get isSharingScreen() { return false; }
  get supportsScreenShare() { return false; }
  tracks() { return { local: {} }; }
}
