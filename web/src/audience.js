// The live audience on the page. The host sees the watch link and its QR code, the room's
// size, the votes and the heckles as they come, and the controls (skip, pause, end); a
// viewer (a watch link, `/?watch=…`, with a viewer's rights only, even on a LAN server) gets the same stage
// with a heckle box and a vote button per agent instead of the controls. The server
// checks each heckle (local_duel/pipeline/heckle.py) and counts the votes
// (local_duel/server/votes.py); the page only shows what it is told.

import QRCode from "qrcode";

import { ACTION, EVENT } from "./events.js";
import { $, SIDES, setStatus } from "./stage.js";

const MAX_HECKLE = 140; // the server's limit (MAX_CHARS in local_duel/pipeline/heckle.py)

const params = new URLSearchParams(location.search);
const watchToken = params.get("watch");

/** This page was opened from a watch link. */
export const watching = Boolean(watchToken);

let send = () => {};
let paused = false;
let names = { first: "First", second: "Second" };

/** The duel's socket for this watch link (and the replica): a watch link never carries the access code. */
export function watchSocketUrl() {
  const query = new URLSearchParams({ token: watchToken });
  // behind the proxy of several replicas: the one running the duel (README, Scaling out)
  if (params.get("replica")) query.set("replica", params.get("replica"));
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?${query}`;
}

// --- what the server tells the room ---

export function onEvent(data) {
  switch (data?.event) {
    case EVENT.DUEL_STATE:
      showViewers(data.viewers);
      showVotes(data.votes);
      $("heckles").replaceChildren();
      data.heckles?.forEach(showHeckle);
      if (data.cast) showNames(data.cast);
      if (data.paused) showPaused(true);
      break;
    case EVENT.DUEL_STARTED:
      showNames(data.cast);
      break;
    case EVENT.AUDIENCE:
      showViewers(data.viewers);
      break;
    case EVENT.VOTES:
      showVotes(data.votes);
      break;
    case EVENT.HECKLE:
      showHeckle(data.text);
      break;
    case EVENT.REFUSED:
      showRefusal(data);
      break;
    case EVENT.CONTROL:
      if (data.action === ACTION.PAUSE || data.action === ACTION.RESUME) {
        showPaused(data.action === ACTION.PAUSE);
        if (data.action === ACTION.RESUME) setStatus("running", "Resumed by the host.");
      }
      if (data.action === ACTION.SKIP) note("The host skipped to the next phase.");
      break;
    case EVENT.DUEL_ENDED:
      showPaused(false);
      if (data.votes) showVotes(data.votes);
      showWinner(data);
      break;
  }
}

function showViewers(count) {
  if (count == null) return;
  $("viewers").textContent = `${count} watching`;
  $("viewers").dataset.count = count;
}

function showNames(cast) {
  names = { first: cast.first.name, second: cast.second.name };
  for (const side of SIDES) {
    $(`votes-name-${side}`).textContent = names[side];
    $(`vote-${side}`).textContent = `Vote ${names[side]}`;
  }
}

function showVotes(votes) {
  if (!votes) return;
  const total = votes.first + votes.second;
  for (const side of SIDES) {
    $(`votes-${side}`).textContent = votes[side];
    $(`votes-bar-${side}`).style.flexGrow = total ? votes[side] : 1;
  }
}

function showHeckle(text) {
  const li = document.createElement("li");
  li.textContent = text;
  const list = $("heckles");
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

// A refusal is for this page only: what was refused and why, in the server's words.
function showRefusal({ action, code, message }) {
  const el = $("refusal");
  el.dataset.code = code ?? "";
  el.textContent = `${action === ACTION.VOTE ? "Vote" : action === ACTION.HECKLE ? "Heckle" : "Not done"}: ${message}`;
  el.hidden = false;
}

function note(text) {
  const el = $("audience-note");
  el.textContent = text;
  el.hidden = false;
}

function showPaused(on) {
  paused = on;
  $("control-pause").textContent = on ? "Resume" : "Pause";
  $("control-pause").setAttribute("aria-pressed", String(on));
  document.body.classList.toggle("paused", on);
  if (on) setStatus("paused", "Paused by the host.");
}

function showWinner({ winner, winner_name: name, votes }) {
  const el = $("winner");
  el.dataset.winner = winner ?? "tie";
  const score = votes ? ` (${votes.first}–${votes.second})` : "";
  el.textContent = winner ? `The audience's winner: ${name}${score}` : `The audience calls it a tie${score}`;
  el.hidden = false;
}

// --- the host's side ---

/** A duel this page started: show its watch link and QR code, and a fresh tally. */
export function hosting(watchUrl) {
  const link = $("watch-link");
  link.href = watchUrl;
  link.textContent = watchUrl;
  const qr = $("watch-qr");
  delete qr.dataset.rendered;
  QRCode.toCanvas(qr, watchUrl, { margin: 1, width: 176 }, (err) => {
    if (err) $("watch-qr-error").textContent = `No QR code: ${err.message}`;
    else qr.dataset.rendered = "true";
  });
  resetRoom();
  $("audience").hidden = false;
  document.body.classList.add("hosting");
}

/** The room's strip goes (a replay from the history takes the stage). */
export function closeRoom() {
  $("audience").hidden = true;
  document.body.classList.remove("hosting");
}

function resetRoom() {
  showVotes({ first: 0, second: 0 });
  showPaused(false);
  $("heckles").replaceChildren();
  for (const id of ["winner", "refusal", "audience-note"]) $(id).hidden = true;
  for (const side of SIDES) $(`vote-${side}`).setAttribute("aria-pressed", "false");
}

/** The host's controls work while the duel is on and this page is in it. */
export function updateControls(live) {
  for (const id of ["control-skip", "control-pause", "control-end"]) $(id).disabled = !live;
  for (const side of SIDES) $(`vote-${side}`).disabled = !live;
  $("heckle-send").disabled = !live;
}

// --- the viewer's side ---

/** Show the Listen button again (after the duel was cut off, or a link that didn't work). */
export function offerJoin(label) {
  $("join").textContent = label;
  $("join").hidden = false;
}

function sendHeckle(event) {
  event.preventDefault();
  const input = $("heckle-text");
  const text = input.value.trim();
  if (!text) return;
  $("refusal").hidden = true;
  send(ACTION.HECKLE, { text });
  input.value = "";
  updateCount();
}

function vote(side) {
  $("refusal").hidden = true;
  send(ACTION.VOTE, { side });
  for (const s of SIDES) $(`vote-${s}`).setAttribute("aria-pressed", String(s === side));
}

function updateCount() {
  $("heckle-count").textContent = `${$("heckle-text").value.length}/${MAX_HECKLE}`;
}

/**
 * Wire the panel. `send(action, data)` sends an RTVI client message; `join()` connects a
 * viewer (from a tap, so audio may start).
 */
export function initAudience({ send: sender, join }) {
  send = sender;
  $("heckle-text").maxLength = MAX_HECKLE;
  $("heckle-text").addEventListener("input", updateCount);
  $("heckle-form").addEventListener("submit", sendHeckle);
  for (const side of SIDES) $(`vote-${side}`).addEventListener("click", () => vote(side));
  $("control-skip").addEventListener("click", () => send(ACTION.SKIP));
  $("control-pause").addEventListener("click", () => send(paused ? ACTION.RESUME : ACTION.PAUSE));
  $("control-end").addEventListener("click", () => send(ACTION.END));
  updateCount();
  if (!watching) return;
  document.body.classList.add("watching");
  resetRoom();
  $("audience").hidden = false;
  $("join").hidden = false;
  $("join").addEventListener("click", () => {
    $("join").hidden = true;
    resetRoom();
    join();
  });
  setStatus("ready", "Tap Listen to hear the duel.");
}
