// The Local Duel page: settings → POST /api/start → the official Pipecat client on the
// returned wsUrl, with our playback-only media manager. Duel events arrive as RTVI
// server messages in step with the audio, so the page just shows each as it comes.

import { PipecatClient } from "@pipecat-ai/client-js";
import { ProtobufFrameSerializer, WebSocketTransport } from "@pipecat-ai/websocket-transport";

import { drawFlow } from "./diagram.js";
import { initHistory } from "./history.js";
import { PlaybackMediaManager } from "./player.js";
import "./style.css";

const SAMPLE_RATE = 24000; // the server's audio_out_sample_rate

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const form = $("settings");
const field = (name) => form.elements.namedItem(name);
const player = new PlaybackMediaManager(SAMPLE_RATE);

let healthy = false;
let client = null;
// One duel's life: running from Start until it ends, is stopped or fails.
let duel = { running: false, over: false, phases: [] };

// --- talking to the server ---

class ApiError extends Error {
  constructor(status, detail) {
    super(describe(detail).join("\n") || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

async function api(path, init) {
  const res = await fetch(path, init);
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body?.detail ?? body);
  return body;
}

const LABELS = { flow: "Flow", topic: "Topic", turns: "Turns per phase", rating: "Rating", cast: "Cast" };

// ["body", "cast", "first", "name"] → "First agent's name"
function label(loc) {
  const path = loc.filter((part) => part !== "body");
  if (path[0] === "cast" && path.length > 2) return `${path[1] === "first" ? "First" : "Second"} agent's ${path.slice(2).join(" ")}`;
  return LABELS[path.join(".")] ?? path.join(" › ");
}

// FastAPI's detail is a string, or a list of {loc, msg} naming the bad field.
function describe(detail) {
  if (detail == null) return [];
  if (typeof detail === "string") return [detail];
  if (Array.isArray(detail)) return detail.map((p) => (p.loc ? `${label(p.loc)}: ${p.msg}` : p.msg ?? JSON.stringify(p)));
  return [detail.message ?? JSON.stringify(detail)];
}

// Mark the inputs a 422 names, so the user sees where to look.
function markInvalid(detail) {
  if (!Array.isArray(detail)) return;
  for (const problem of detail) {
    const input = field(problem.loc.filter((p) => p !== "body").join("."));
    input?.setAttribute?.("aria-invalid", "true");
  }
}

// --- status, errors and the stage ---

function setStatus(state, text) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = text;
}

function showError(text) {
  const el = $("error");
  el.textContent = text;
  el.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

function updateButtons() {
  $("start").disabled = duel.running || !healthy;
  $("stop").disabled = !duel.running && !document.body.classList.contains("replaying");
}

function showSettings(open) {
  document.body.classList.toggle("settings-hidden", !open);
  $("toggle-settings").setAttribute("aria-expanded", String(open));
}

function showPhase(phase, phases = duel.phases) {
  const banner = $("phase-banner");
  banner.dataset.phase = phase;
  $("phase-name").textContent = phase;
  $("phase-steps").replaceChildren(
    ...phases.map((name) => {
      const li = document.createElement("li");
      li.textContent = name;
      if (name === phase) li.setAttribute("aria-current", "step");
      return li;
    }),
  );
  // Restart the highlight animation so every change is noticed.
  banner.classList.remove("changed");
  void banner.offsetWidth;
  banner.classList.add("changed");
}

function setSpeaker(side) {
  for (const s of ["first", "second"]) $(`agent-${s}`).classList.toggle("speaking", s === side);
}

function setBubble(side, text) {
  const bubble = $(`bubble-${side}`);
  bubble.textContent = text;
  bubble.classList.remove("fresh");
  void bubble.offsetWidth;
  bubble.classList.add("fresh");
}

function addToTranscript({ speaker, side, phase, text }) {
  const li = document.createElement("li");
  li.dataset.side = side;
  li.dataset.phase = phase;
  const who = document.createElement("b");
  who.textContent = speaker;
  const what = document.createElement("span");
  what.textContent = text;
  li.append(who, " ", what);
  const list = $("transcript");
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

function resetStage(settings) {
  for (const side of ["first", "second"]) {
    $(`name-${side}`).textContent = settings.cast[side].name;
    $(`bubble-${side}`).textContent = "";
  }
  setSpeaker(null);
  $("transcript").replaceChildren();
  $("meter").dataset.peak = "0";
}

// --- the duel ---

function onDuelEvent(data) {
  switch (data?.event) {
    case "duel-started":
      duel.phases = data.phases;
      for (const side of ["first", "second"]) $(`name-${side}`).textContent = data.cast[side].name;
      showPhase(data.phases[0]);
      setSpeaker("first");
      setBubble("first", "…"); // the first line is being written
      setStatus("running", `Duel on: ${data.topic}`);
      break;
    case "phase-changed":
      showPhase(data.phase);
      break;
    case "line-started":
      setSpeaker(data.side);
      setBubble(data.side, "…");
      break;
    case "line-text":
      setBubble(data.side, data.text);
      addToTranscript(data);
      break;
    case "duel-ended":
      finish("ended", `The duel is over: ${data.lines} lines.`);
      break;
    case "error":
      showError(data.message);
      if (data.fatal !== false) finish("failed", "The duel stopped with an error.");
      break;
  }
}

// The duel is over (ended, stopped or failed): the audio already queued still plays
// out unless Stop was pressed, then the socket goes.
function finish(state, text) {
  if (duel.over) return;
  duel.over = true;
  duel.running = false;
  setStatus(state, text);
  updateButtons();
  const done = client;
  client = null;
  const run = duel;
  setTimeout(() => run === duel && setSpeaker(null), player.buffered() * 1000);
  done?.disconnect().catch(() => {});
  archive.refresh();
}

// Callbacks of an earlier duel's client (Stop, then Start at once) must not touch this one.
function makeClient(run) {
  const mine = (callback) => (...args) => run === duel && callback(...args);
  return new PipecatClient({
    transport: new WebSocketTransport({
      mediaManager: player, // never Daily (CDN) nor WavMediaManager (microphone)
      serializer: new ProtobufFrameSerializer(),
      playerSampleRate: SAMPLE_RATE,
    }),
    enableMic: false,
    enableCam: false,
    callbacks: {
      onServerMessage: mine(onDuelEvent),
      onError: mine((message) => {
        const data = message?.data ?? {};
        if (duel.over) return; // the server closes the socket after the last line
        const text = data.message ?? data.error ?? "unknown error";
        showError(/closed/i.test(text) ? "The connection to the server closed before the duel ended." : `Connection problem: ${text}`);
        if (data.fatal) finish("failed", "The duel was cut off.");
      }),
      onDisconnected: mine(() => {
        if (duel.over) return;
        showError("The connection to the server closed before the duel ended.");
        finish("failed", "The duel was cut off.");
      }),
    },
  });
}

function readSettings() {
  const agent = (side) => ({
    name: field(`cast.${side}.name`).value.trim(),
    persona: field(`cast.${side}.persona`).value.trim(),
    voice: field(`cast.${side}.voice`).value,
    model: field(`cast.${side}.model`).value || null,
  });
  const turns = field("turns").value;
  return {
    flow: field("flow").value,
    topic: field("topic").value.trim(),
    turns: turns === "" ? null : Number(turns),
    rating: field("rating").value || null,
    cast: { first: agent("first"), second: agent("second") },
  };
}

async function start(event) {
  event.preventDefault();
  if (duel.running || !healthy) return;
  player.unlock(); // inside the click: browsers start audio only on a user gesture
  archive.stop();
  clearError();
  const settings = readSettings();
  duel = { running: true, over: false, phases: duel.phases };
  updateButtons();
  setStatus("starting", "Starting the duel…");
  let session;
  try {
    session = await api("/api/start", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(settings),
    });
  } catch (err) {
    duel = { running: false, over: true, phases: duel.phases };
    showError(`Can't start the duel:\n${err.message}`);
    if (err.status === 422) markInvalid(err.detail);
    if (err.status === 429) setStatus("full", "The stage is full: every duel this server can play at once is on. Try again in a moment.");
    else setStatus("ready", "Fix the settings and press Start again.");
    updateButtons();
    return;
  }
  // The server may say its audio rate; Local Duel's is 24 kHz.
  player.sampleRate = session.sample_rate ?? SAMPLE_RATE;
  resetStage(settings);
  showSettings(false);
  setStatus("starting", "Connecting… the first line is on its way.");
  const run = duel;
  client = makeClient(run);
  client.connect({ wsUrl: session.wsUrl }).catch((err) => {
    if (run === duel && !duel.over) {
      showError(`Can't connect to the duel: ${err?.message ?? err}`);
      finish("failed", "The duel could not start.");
    }
  });
}

function stop() {
  if (!duel.running) { // Stop during a replay ends the replay
    archive.stop();
    setStatus("stopped", "Replay stopped.");
    return;
  }
  player.stop();
  finish("stopped", "Stopped.");
}

// --- the audio meter: the level of what is actually playing ---

function meterLoop() {
  const meter = $("meter");
  let shown = 0;
  const tick = () => {
    const level = player.level();
    shown = Math.max(level, shown * 0.85); // fall back smoothly between syllables
    if (shown < 0.002) shown = 0;
    meter.dataset.level = shown.toFixed(3);
    if (level > Number(meter.dataset.peak || 0)) meter.dataset.peak = level.toFixed(3);
    document.documentElement.style.setProperty("--level", Math.min(1, shown * 3).toFixed(3));
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

// --- settings: flows, voices, defaults ---

async function loadFlow(name) {
  try {
    const flow = await api(`/api/flows/${encodeURIComponent(name)}`);
    duel.phases = flow.phases.map((p) => p.name);
    if (!duel.running) showPhase(duel.phases[0]);
    await drawFlow($("flow-diagram"), flow);
  } catch (err) {
    showError(`Flow '${name}': ${err.message}`);
  }
}

function fillSelect(select, values, selected) {
  select.replaceChildren(...values.map((v) => new Option(v, v, false, v === selected)));
}

async function loadFlows(selected) {
  const flows = await api("/api/flows");
  fillSelect(field("flow"), flows.map((f) => f.name), selected);
  await loadFlow(field("flow").value);
}

async function uploadFlow() {
  const file = field("upload").files[0];
  if (!file) return;
  clearError();
  const body = new FormData();
  body.append("file", file);
  try {
    // The header makes the upload a request no other website can send without asking first.
    const flow = await api("/api/flows", { method: "POST", body, headers: { "X-Local-Duel": "1" } });
    await loadFlows(flow.name);
    setStatus("ready", `Flow '${flow.name}' uploaded.`);
  } catch (err) {
    showError(`Upload refused: ${err.message}`);
  } finally {
    field("upload").value = "";
  }
}

function modelLabel({ name, prompt_style, size_mb }) {
  return [name, prompt_style, size_mb ? `${Math.round(size_mb)} MB` : null].filter(Boolean).join(" · ");
}

async function loadSettings() {
  const [defaults, voices, models] = await Promise.all([
    api("/api/defaults"),
    api("/api/voices"),
    api("/api/models"),
  ]);
  voiceIds = voices;
  field("topic").value = defaults.topic;
  for (const side of ["first", "second"]) {
    const agent = defaults.cast[side];
    field(`cast.${side}.name`).value = agent.name;
    field(`cast.${side}.persona`).value = agent.persona;
    fillSelect(field(`cast.${side}.voice`), voices, agent.voice);
    // Each model says how it is prompted: a screenplay (base models) or a chat.
    const select = field(`cast.${side}.model`);
    select.replaceChildren(
      ...models.map((m) => new Option(modelLabel(m), m.name, false, m.name === agent.model)),
    );
    $(`name-${side}`).textContent = agent.name;
  }
  await loadFlows(defaults.flow);
}

// The server answers /api/health with 503 until its engine and voices are ready.
async function pollHealth() {
  let wait = 15000;
  try {
    const health = await api("/api/health");
    // The models to offer are only known once the engine is up: load the settings then.
    if (!healthy && !settingsLoaded) {
      settingsLoaded = true;
      loadSettings().catch((err) => showError(`Can't load the settings: ${err.message}`));
    }
    healthy = true;
    if (!duel.running) setStatus("ready", `Ready · ${health.engine} engine · ${health.voices.length} voices`);
  } catch (err) {
    healthy = false;
    wait = 2000;
    if (!duel.running) {
      // 503 says why: still warming up, or the engine could not start (then say so).
      const why = typeof err.detail === "string" ? err.detail : "";
      if (why.startsWith("the engine could not start")) setStatus("failed", `${why[0].toUpperCase()}${why.slice(1)}`);
      else setStatus("warming", err.status === 503 ? "The engine is warming up…" : "Can't reach the server; retrying…");
    }
  }
  updateButtons();
  setTimeout(pollHealth, wait);
}

form.addEventListener("submit", start);
$("stop").addEventListener("click", stop);
$("toggle-settings").addEventListener("click", () => showSettings(document.body.classList.contains("settings-hidden")));
field("flow").addEventListener("change", () => loadFlow(field("flow").value));
field("upload").addEventListener("change", uploadFlow);

let settingsLoaded = false;
let voiceIds = [];
const archive = initHistory({
  api, player, showPhase, setSpeaker, setBubble, resetStage, setStatus, showError, clearError, updateButtons,
  voices: () => voiceIds,
  busy: () => duel.running,
});
meterLoop();
pollHealth();
