// The page of `asr serve`: pick a model, upload a file or record from the microphone, show the transcript, its
// words with times and confidences, its segments, and the cross-attention picture; or stream the microphone live
// (/v1/audio/stream) and show the text as it is heard. No libraries, nothing fetched from outside the server.
"use strict";

const LOW = 0.5; // words below this confidence are marked
const MIN_ATTENTION_S = 0.2, MAX_ATTENTION_S = 30; // the recordings the server draws attention pictures for
const $ = (id) => document.getElementById(id);
const ui = {
  model: $("model"), key: $("apikey"), keyLabel: $("apikey-label"), keyNote: $("apikey-note"),
  file: $("file"), transcribe: $("transcribe"), record: $("record"), live: $("live"), micNote: $("mic-note"),
  liveBox: $("live-box"), liveFinal: $("live-final"), livePartial: $("live-partial"),
  status: $("status"), result: $("result"), transcript: $("transcript"), words: $("words"),
  segments: document.querySelector("#segments tbody"), attention: $("attention"), attentionBox: $("attention-box"),
};
let busy = false;
let recorder = null;
let live = null; // the live session: {ws, capture, ready, queued, ended, done, error, seconds}
let micOK = true;
const liveOK = Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.AudioContext &&
  window.WebSocket);
let attentionURL = null;

function setStatus(text, kind = "") {
  ui.status.textContent = text;
  ui.status.className = kind;
}

function setBusy(on) {
  busy = on;
  ui.transcribe.disabled = on;
  if (!recorder) ui.record.disabled = on || !micOK;
  if (!live) ui.live.disabled = on || !liveOK;
}

function authHeaders() {
  const key = ui.key.value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function needKey(on) {
  ui.keyNote.hidden = !on;
  ui.keyLabel.classList.toggle("needed", on);
  if (on) ui.key.focus();
}

// An error answered by the server ({"error": {"message": ...}}), or a network failure, as one line.
class RequestError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function request(path, options = {}) {
  let res;
  try {
    res = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  } catch (e) {
    throw new RequestError(0, `the server could not be reached (${e.message})`);
  }
  if (res.ok) { needKey(false); return res; }
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch (_) { /* not JSON: keep the status line */ }
  if (res.status === 401) needKey(true);
  throw new RequestError(res.status, message);
}

async function loadModels() {
  try {
    const res = await request("/v1/models");
    const models = (await res.json()).data || [];
    const chosen = ui.model.value || localStorage.getItem("asr-model");
    ui.model.replaceChildren(...models.map((m) => new Option(m.id, m.id)));
    if (models.some((m) => m.id === chosen)) ui.model.value = chosen;
    setStatus(models.length ? "Ready: choose a file or record." : "The server serves no models.");
  } catch (e) {
    ui.model.replaceChildren(new Option("(none)", ""));
    setStatus(`Could not list the models: ${e.message}`, "error");
  }
}

function form(blob, filename, fields = {}) {
  const data = new FormData();
  data.append("file", blob, filename);
  if (ui.model.value) data.append("model", ui.model.value);
  for (const [name, values] of Object.entries(fields)) {
    for (const v of [].concat(values)) data.append(name, v);
  }
  return data;
}

async function transcribe(blob, filename) {
  if (busy) return;
  setBusy(true);
  ui.result.hidden = true;
  ui.liveBox.hidden = true;
  const kb = Math.max(1, Math.round(blob.size / 1024));
  setStatus(`Uploading ${filename} (${kb} kB) and transcribing…`, "working");
  try {
    const t0 = performance.now();
    const res = await request("/v1/audio/transcriptions", {
      method: "POST",
      body: form(blob, filename, {
        response_format: "verbose_json", "timestamp_granularities[]": ["word", "segment"],
      }),
    });
    const answer = await res.json();
    const took = ((performance.now() - t0) / 1000).toFixed(1);
    show(answer);
    const said = `Transcribed ${answer.duration.toFixed(1)} s of audio in ${took} s.`;
    if (!(answer.duration >= MIN_ATTENTION_S && answer.duration <= MAX_ATTENTION_S)) {
      setStatus(`${said} (The attention picture is drawn for recordings of ${MIN_ATTENTION_S} to ` +
        `${MAX_ATTENTION_S} s.)`);
      return;
    }
    setStatus(`${said} Drawing the attention picture…`, "working");
    try {
      const res = await request("/v1/audio/attention", { method: "POST", body: form(blob, filename) });
      if (attentionURL) URL.revokeObjectURL(attentionURL);
      attentionURL = URL.createObjectURL(await res.blob());
      ui.attention.src = attentionURL;
      ui.attentionBox.hidden = false;
      setStatus(said);
    } catch (e) {
      setStatus(`${said} The attention picture failed: ${e.message}`, "error");
    }
  } catch (e) {
    setStatus(`Error${e.status ? ` ${e.status}` : ""}: ${e.message}`, "error");
  } finally {
    setBusy(false);
  }
}

function show(answer) {
  ui.transcript.textContent = answer.text || "(no speech recognised)";
  const spans = (answer.words || []).map((w) => {
    const span = document.createElement("span");
    span.className = w.confidence < LOW ? "word low" : "word";
    span.textContent = w.word;
    span.title = `${w.start.toFixed(2)}–${w.end.toFixed(2)} s, confidence ${w.confidence.toFixed(2)}`;
    span.tabIndex = 0;
    return span;
  });
  ui.words.replaceChildren();
  spans.forEach((s, i) => ui.words.append(...(i ? [" ", s] : [s])));
  ui.segments.replaceChildren(...(answer.segments || []).map((s) => {
    const row = document.createElement("tr");
    for (const cell of [s.id, s.start.toFixed(2), s.end.toFixed(2), s.text]) {
      const td = document.createElement("td");
      td.textContent = cell;
      row.append(td);
    }
    return row;
  }));
  ui.attentionBox.hidden = true;
  ui.attention.removeAttribute("src");
  ui.result.hidden = false;
}

// ---- the microphone ----------------------------------------------------------------------------------------
function recordingType() {
  for (const type of ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"]) {
    if (window.MediaRecorder && MediaRecorder.isTypeSupported(type)) return type;
  }
  return "";
}

function extension(type) {
  if (type.startsWith("audio/ogg")) return "ogg";
  if (type.startsWith("audio/mp4")) return "m4a";
  return "webm";
}

function showRecording(on) {
  ui.record.textContent = on ? "■ Stop" : "● Record";
  ui.record.setAttribute("aria-pressed", String(on));
  ui.record.classList.toggle("recording", on);
}

async function startRecording() {
  setBusy(true); // no second start, and no upload, while the microphone opens
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const type = recordingType();
    recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
  } catch (e) {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    setStatus(`The microphone could not be opened: ${e.message || e.name}`, "error");
    setBusy(false);
    return;
  }
  const chunks = [];
  const started = performance.now();
  const ticking = setInterval(() => setStatus(
    `Recording… ${Math.round((performance.now() - started) / 1000)} s (press Stop to transcribe)`, "recording"), 500);
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = () => {
    clearInterval(ticking);
    stream.getTracks().forEach((t) => t.stop());
    const mime = recorder.mimeType || "audio/webm";
    recorder = null;
    showRecording(false);
    setBusy(false);
    const blob = new Blob(chunks, { type: mime });
    if (blob.size) transcribe(blob, `recording.${extension(mime)}`);
    else setStatus("Nothing was recorded.", "error");
  };
  recorder.start(250);
  ui.record.disabled = false;
  showRecording(true);
  setStatus("Recording… (press Stop to transcribe)", "recording");
}

ui.record.addEventListener("click", () => {
  if (recorder) recorder.stop();
  else if (!busy) startRecording();
});

// ---- live: the microphone as 100 ms frames of 16 kHz PCM16 over a WebSocket (WeNet's protocol) ---------------
// The server answers server_ready, then partial_result (the text being heard, which may change) and final_result
// (a stretch of speech, done) as it recognises, and speech_end after {"signal": "end"}; then it closes.

function showLive(on) {
  ui.live.textContent = on ? "■ Stop" : "◉ Live";
  ui.live.setAttribute("aria-pressed", String(on));
  ui.live.classList.toggle("recording", on);
}

// The microphone opened, its frames (pcm16.js) handed to onFrame; -> {stop()}.
async function openCapture(onFrame) {
  const media = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const ctx = new AudioContext();
  const source = ctx.createMediaStreamSource(media);
  let node;
  try {
    await ctx.audioWorklet.addModule("/static/pcm16.js");
    node = new AudioWorkletNode(ctx, "pcm16-frames", { numberOfInputs: 1, numberOfOutputs: 0 });
    node.port.onmessage = (e) => onFrame(e.data);
    source.connect(node);
  } catch (_) { // no AudioWorklet: a ScriptProcessor on the page's thread, connected so that it runs (silent)
    const down = new Downsampler(ctx.sampleRate, onFrame);
    node = ctx.createScriptProcessor(4096, 1, 1);
    node.onaudioprocess = (e) => down.push([e.inputBuffer.getChannelData(0)]);
    source.connect(node);
    node.connect(ctx.destination);
  }
  await ctx.resume();
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      media.getTracks().forEach((t) => t.stop());
      source.disconnect();
      ctx.close();
    },
  };
}

function sentence(message) {
  try { return (JSON.parse(message.nbest)[0] || {}).sentence || ""; } catch (_) { return ""; }
}

function appendFinal(message) {
  const best = JSON.parse(message.nbest)[0] || {};
  if (!best.sentence) return;
  const span = document.createElement("span");
  span.className = "final";
  span.textContent = best.sentence;
  if (best.start !== undefined) span.title = `${(best.start / 1000).toFixed(2)}–${(best.end / 1000).toFixed(2)} s`;
  if (ui.liveFinal.childElementCount) ui.liveFinal.append(" ");
  ui.liveFinal.append(span);
}

function sendEnd(session) {
  for (const frame of session.queued) session.ws.send(frame);
  session.queued = [];
  session.ws.send(JSON.stringify({ signal: "end" }));
}

function onLiveMessage(session, data) {
  let m;
  try { m = JSON.parse(data); } catch (_) { return; }
  if (m.status !== "ok") { // the server closes after it
    session.error = m.message || "the server refused the stream";
    setStatus(`Live: ${session.error}`, "error");
    if (/API key/.test(session.error)) needKey(true);
    return;
  }
  if (m.type === "server_ready") {
    session.ready = true;
    needKey(false);
    if (session.ended) { sendEnd(session); return; }
    for (const frame of session.queued) session.ws.send(frame);
    session.queued = [];
    ui.live.disabled = false;
    setStatus("Live: listening… (press Stop to end)", "recording");
  } else if (m.type === "partial_result") {
    ui.livePartial.textContent = sentence(m);
  } else if (m.type === "final_result") {
    appendFinal(m);
    ui.livePartial.textContent = "";
  } else if (m.type === "speech_end") {
    session.done = true;
  }
}

function onFrame(session, frame) {
  if (session.ended) return;
  session.seconds += frame.byteLength / 2 / 16000;
  if (session.ready) session.ws.send(frame);
  else session.queued.push(frame);
}

async function startLive() {
  setBusy(true); // no upload or recording meanwhile
  ui.result.hidden = true;
  ui.liveFinal.replaceChildren();
  ui.livePartial.textContent = "";
  ui.liveBox.hidden = false;
  const session = {
    ws: null, capture: null, ready: false, queued: [], ended: false, done: false, error: "", seconds: 0,
  };
  live = session;
  showLive(true);
  ui.live.disabled = true; // until the server is ready
  setStatus("Live: opening the microphone…", "working");
  try {
    session.capture = await openCapture((frame) => onFrame(session, frame));
  } catch (e) {
    live = null;
    showLive(false);
    setBusy(false);
    setStatus(`The microphone could not be opened: ${e.message || e.name}`, "error");
    return;
  }
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/audio/stream`);
  session.ws = ws;
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    const start = { signal: "start", nbest: 1, continuous_decoding: true };
    if (ui.model.value) start.model = ui.model.value;
    const key = ui.key.value.trim();
    if (key) start.api_key = key; // a browser cannot set an Authorization header on a WebSocket
    ws.send(JSON.stringify(start));
  };
  ws.onmessage = (e) => onLiveMessage(session, e.data);
  ws.onclose = (e) => endLive(session, e);
}

function stopLive(session) {
  if (session.ended) return;
  session.ended = true;
  session.capture.stop();
  ui.live.disabled = true;
  ui.live.textContent = "… Finishing";
  setStatus("Live: finishing the last words…", "working");
  if (session.ready && session.ws.readyState === WebSocket.OPEN) sendEnd(session); // else when server_ready comes
}

function endLive(session, closed) {
  session.ended = true;
  session.capture.stop();
  live = null;
  showLive(false);
  setBusy(false);
  ui.livePartial.textContent = "";
  if (session.error) return; // said already
  if (session.done) {
    const said = ui.liveFinal.childElementCount ? "" : " No speech was recognised.";
    setStatus(`Live transcription ended: ${session.seconds.toFixed(1)} s of audio streamed.${said}`);
  } else {
    const why = closed.reason ? `: ${closed.reason}` : "";
    setStatus(`Live: the connection closed before the end (code ${closed.code}${why}); is the server still running?`,
      "error");
  }
}

ui.live.addEventListener("click", () => {
  if (live) stopLive(live);
  else if (!busy) startLive();
});

ui.transcribe.addEventListener("click", () => {
  const file = ui.file.files[0];
  if (!file) { setStatus("Choose an audio file first.", "error"); ui.file.focus(); return; }
  transcribe(file, file.name);
});

ui.key.value = localStorage.getItem("asr-api-key") || "";
ui.key.addEventListener("change", () => {
  localStorage.setItem("asr-api-key", ui.key.value.trim());
  loadModels();
});
ui.model.addEventListener("change", () => localStorage.setItem("asr-model", ui.model.value));

if (!liveOK) ui.live.disabled = true;
if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder) {
  micOK = false;
  ui.record.disabled = true;
  ui.micNote.hidden = false;
  ui.micNote.textContent = window.isSecureContext
    ? "This browser cannot record audio (no MediaRecorder); upload a file instead."
    : `The microphone needs a secure page: open it as http://127.0.0.1:${location.port || 80}/ or ` +
      `http://localhost:${location.port || 80}/, or serve it over https. Uploading a file works here.`;
}
loadModels();
