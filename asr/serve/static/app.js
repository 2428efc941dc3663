// The page of `asr serve`: pick a model, upload a file or record from the microphone, show the transcript, its
// words with times and confidences, its segments, and the cross-attention picture. No libraries, nothing
// fetched from outside the server.
"use strict";

const LOW = 0.5; // words below this confidence are marked
const MIN_ATTENTION_S = 0.2, MAX_ATTENTION_S = 30; // the recordings the server draws attention pictures for
const $ = (id) => document.getElementById(id);
const ui = {
  model: $("model"), key: $("apikey"), keyLabel: $("apikey-label"), keyNote: $("apikey-note"),
  file: $("file"), transcribe: $("transcribe"), record: $("record"), micNote: $("mic-note"),
  status: $("status"), result: $("result"), transcript: $("transcript"), words: $("words"),
  segments: document.querySelector("#segments tbody"), attention: $("attention"), attentionBox: $("attention-box"),
};
let busy = false;
let recorder = null;
let micOK = true;
let attentionURL = null;

function setStatus(text, kind = "") {
  ui.status.textContent = text;
  ui.status.className = kind;
}

function setBusy(on) {
  busy = on;
  ui.transcribe.disabled = on;
  if (!recorder) ui.record.disabled = on || !micOK;
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
