// A duel's life on this page: Start (POST /api/start, then the official Pipecat client
// on the returned wsUrl, with our playback-only media manager), its events as they come,
// and its end; or, from a watch link, joining someone else's duel. Plus the server's
// health, polled until it is ready and then now and then.
//
// Duel events arrive as RTVI server messages in step with the audio, so the page just
// shows each as it comes.

import { PipecatClient } from "@pipecat-ai/client-js";
import { ProtobufFrameSerializer, WebSocketTransport } from "@pipecat-ai/websocket-transport";

import { api, health } from "./api.js";
import * as audience from "./audience.js";
import { EVENT } from "./events.js";
import { PlaybackMediaManager } from "./player.js";
import { loadSettings, markInvalid, readSettings, showSettings } from "./settings.js";
import {
  $, addToTranscript, clearError, resetStage, setBubble, setSpeaker, setStatus, showCast, showError, showPhase,
} from "./stage.js";

const SAMPLE_RATE = 24000; // the server's audio_out_sample_rate
const REJOIN_SECONDS = 2; // a watch link opened before the host's page has connected waits this long
const REJOIN_TRIES = 30;

export const player = new PlaybackMediaManager(SAMPLE_RATE);

// What this module keeps between calls, in one place.
const page = {
  healthy: false, // the server said its engine and voices are ready
  settingsLoaded: false, // loading the settings has begun (it is done once)
  settingsReady: false, // the form holds the server's flows, casts and models: Start may send it
  client: null, // the Pipecat client of the duel this page is in, if any
  // One duel's life: running from Start (or joining) until it ends, is stopped or fails.
  // Each Start or join puts a new one here, so a callback holding an older one can tell
  // it is stale (`run === page.run`).
  run: { running: false, over: false, phases: [] },
  history: { stop() {}, refresh() {} }, // the history panel (the host's page)
};

/** A live duel is on. */
export const busy = () => page.run.running;

/** The chosen flow's phases, shown on the banner while no duel runs. */
export function showFlowPhases(phases) {
  page.run.phases = phases;
  if (!page.run.running) showPhase(phases[0], phases);
}

export function updateButtons() {
  const { run } = page;
  $("start").disabled = run.running || !page.healthy || !page.settingsReady;
  $("stop").disabled = !run.running && !document.body.classList.contains("replaying");
  audience.updateControls(run.running && run.joined);
}

function onDuelEvent(data) {
  switch (data?.event) {
    case EVENT.DUEL_STATE: // first, for everyone: the story so far (late joiners need it)
      page.run.joined = true;
      if (data.cast) showCast(data.cast);
      if (data.phases) {
        page.run.phases = data.phases;
        showPhase(data.phase ?? data.phases[0], data.phases);
      }
      if (!$("transcript").children.length) data.transcript?.forEach(addToTranscript);
      if (data.speaking) { // the line being spoken: its text, if it has come yet
        const { side, turn, phase } = data.speaking;
        const line = data.transcript?.at(-1);
        setSpeaker(side);
        setBubble(side, line?.side === side && line.turn === turn && line.phase === phase ? line.text : "…");
      }
      if (data.topic) setStatus("running", `Duel on: ${data.topic}`);
      else if (audience.watching) setStatus("starting", "Joined: the first line is on its way.");
      updateButtons();
      break;
    case EVENT.DUEL_STARTED:
      page.run.phases = data.phases;
      showCast(data.cast);
      showPhase(data.phases[0], data.phases);
      setSpeaker("first");
      setBubble("first", "…"); // the first line is being written
      setStatus("running", `Duel on: ${data.topic}`);
      break;
    case EVENT.PHASE_CHANGED:
      showPhase(data.phase, page.run.phases);
      break;
    case EVENT.LINE_STARTED:
      setSpeaker(data.side);
      setBubble(data.side, "…");
      break;
    case EVENT.LINE_TEXT:
      setBubble(data.side, data.text);
      addToTranscript(data);
      break;
    case EVENT.DUEL_ENDED:
      finish("ended", `The duel is over: ${data.lines} lines${data.by === "host" ? ", ended by the host" : ""}.`);
      break;
    case EVENT.ERROR:
      showError(data.message);
      if (data.fatal !== false) finish("failed", "The duel stopped with an error.");
      break;
  }
  audience.onEvent(data);
}

// The duel is over (ended, stopped or failed): the audio already queued still plays
// out unless Stop was pressed, then the socket goes.
function finish(state, text) {
  const { run } = page;
  if (run.over) return;
  run.over = true;
  run.running = false;
  setStatus(state, text);
  updateButtons();
  const done = page.client;
  page.client = null;
  setTimeout(() => run === page.run && setSpeaker(null), player.buffered() * 1000);
  done?.disconnect().catch(() => {});
  page.history.refresh();
}

// Callbacks of an earlier duel's client (Stop, then Start at once) must not touch this one.
function makeClient(run, { onClosed }) {
  const mine = (callback) => (...args) => run === page.run && callback(...args);
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
        if (run.over) return; // the server closes the socket after the last line
        const text = data.message ?? data.error ?? "unknown error";
        showError(/closed/i.test(text) ? "The connection to the server closed before the duel ended." : `Connection problem: ${text}`);
        if (data.fatal) finish("failed", "The duel was cut off.");
      }),
      onDisconnected: mine(() => {
        if (!run.over) onClosed();
      }),
    },
  });
}

function cutOff() {
  showError("The connection to the server closed before the duel ended.");
  finish("failed", "The duel was cut off.");
}

/** What the audience panel's buttons send: RTVI client messages `{t, d}`. */
export function send(action, data) {
  page.client?.sendClientMessage(action, data);
}

/** Start: the settings to POST /api/start, then the duel's socket. */
export async function start(event) {
  event.preventDefault();
  if (page.run.running || !page.healthy || !page.settingsReady) return;
  player.unlock(); // inside the click: browsers start audio only on a user gesture
  page.history.stop();
  clearError();
  const settings = readSettings();
  page.run = { running: true, over: false, phases: page.run.phases };
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
    page.run = { running: false, over: true, phases: page.run.phases };
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
  audience.hosting(session.watchUrl);
  showSettings(false);
  setStatus("starting", "Connecting… the first line is on its way.");
  const run = page.run;
  page.client = makeClient(run, { onClosed: cutOff });
  page.client.connect({ wsUrl: session.wsUrl }).catch((err) => {
    if (run === page.run && !run.over) {
      showError(`Can't connect to the duel: ${err?.message ?? err}`);
      finish("failed", "The duel could not start.");
    }
  });
}

/**
 * Join a duel from its watch link (`wsUrl` carries the watch token). Called from the
 * Listen tap, so audio may start. A link opened before the host's page has connected is
 * refused for a moment: it tries again every `REJOIN_SECONDS`, then gives up in words.
 */
export function watch(wsUrl, tries = REJOIN_TRIES) {
  player.unlock();
  clearError();
  page.run = { running: true, over: false, phases: page.run.phases, joined: false };
  const run = page.run;
  updateButtons();
  setStatus("starting", "Joining the duel…");
  const retry = () => {
    if (run !== page.run) return;
    page.client = null;
    page.run = { running: false, over: true, phases: run.phases };
    if (tries > 1) {
      setStatus("starting", "Waiting for the duel to start…");
      setTimeout(() => watch(wsUrl, tries - 1), REJOIN_SECONDS * 1000);
    } else {
      showError("Can't join this duel: it is over, or the link has expired. Ask for a new watch link.");
      setStatus("failed", "Not watching.");
      audience.offerJoin("Try again");
    }
  };
  page.client = makeClient(run, {
    onClosed: () => {
      if (!run.joined) return retry();
      cutOff();
      audience.offerJoin("Rejoin");
    },
  });
  page.client.connect({ wsUrl }).catch(() => run === page.run && !run.joined && retry());
}

function stop() {
  if (!page.run.running) { // Stop during a replay ends the replay
    page.history.stop();
    setStatus("stopped", "Replay stopped.");
    return;
  }
  player.stop();
  finish("stopped", "Stopped.");
}

// The server answers /api/health with 503 until its engine and voices are ready; its
// `state` says whether it is still warming up or could not start.
async function pollHealth() {
  const said = await health();
  page.healthy = said.state === "ready";
  if (page.healthy && !page.settingsLoaded) {
    // The models to offer are only known once the engine is up: load the settings then.
    page.settingsLoaded = true;
    loadSettings()
      .then(() => {
        page.settingsReady = true;
        showHealth(said);
        updateButtons();
      })
      .catch((err) => showError(`Can't load the settings: ${err.message}`));
  }
  showHealth(said);
  updateButtons();
  setTimeout(pollHealth, page.healthy ? 15000 : 2000);
}

// The status while no duel runs. "Ready" only once the form holds the server's settings:
// loading them fills the fields, and would overwrite what was typed into them before.
function showHealth({ state, message, report }) {
  if (page.run.running) return;
  if (state === "ready" && page.settingsReady) setStatus("ready", `Ready · ${report.engine} engine · ${report.voices.length} voices`);
  else if (state === "ready") setStatus("warming", "Loading the settings…");
  else if (state === "failed") setStatus("failed", capitalised(message || "the engine could not start"));
  else if (state === "warming") setStatus("warming", "The engine is warming up…");
  else setStatus("warming", "Can't reach the server; retrying…");
}

const capitalised = (text) => `${text[0].toUpperCase()}${text.slice(1)}`;

/** The host's page: Start and Stop, and the health polled; `archive` is the history panel. */
export function host(archive) {
  page.history = archive;
  $("stop").addEventListener("click", stop);
  pollHealth();
}
