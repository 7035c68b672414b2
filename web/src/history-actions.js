// What can be done with one stored duel from its row in the History list, besides
// replaying it: download its audio and transcript, re-voice it with new voices, and
// delete it (with a confirmation first).

import { el, minutes } from "./stage.js";

const DOWNLOADS = [
  ["audio.ogg", "Ogg"], ["audio.wav", "WAV"], ["transcript.vtt", "WebVTT"], ["transcript.md", "Markdown"], ["transcript.json", "JSON"],
];

/** The duel's download links: its audio (Ogg, WAV) and its transcript (WebVTT, Markdown, JSON). */
export function downloadLinks(duel) {
  return el("span", { className: "downloads" },
    ...DOWNLOADS.map(([file, label]) => el("a", { href: `/api/duels/${duel.id}/${file}`, textContent: label, download: "" })));
}

/**
 * The duel's Delete button: asks first, ends its replay if it is the one playing, then
 * `reload()`s the list. `names` is its cast as the row shows it.
 */
export function deleteButton(duel, names, { stage, replay, reload }) {
  const remove = el("button", { type: "button", className: "delete", textContent: "Delete" });
  remove.dataset.testid = "delete";
  remove.disabled = duel.status === "running";
  remove.addEventListener("click", async () => {
    if (!confirm(`Delete the duel "${duel.topic}" (${names})? This can't be undone.`)) return;
    try {
      await stage.api(`/api/duels/${duel.id}`, { method: "DELETE" });
      if (replay.showing(duel.id)) replay.stop();
      stage.setStatus("ready", "Duel deleted.");
      await reload();
    } catch (err) {
      stage.showError(`Can't delete it: ${err.message}`);
    }
  });
  return remove;
}

/**
 * The duel's Re-voice box: a new voice for each agent (from `stage.voices()`) and "Speak
 * it again". `newest()` shows the list's first page (where the new duel is), `reload()`
 * the page shown.
 */
export function revoiceBox(duel, { stage, newest, reload }) {
  const revoice = el("details", { className: "revoice" }, el("summary", { textContent: "Re-voice" }));
  const pick = (side) => {
    const select = el("select", { name: side, title: `${duel.cast[side].name}'s new voice` });
    select.append(...stage.voices().map((v) => new Option(v, v, false, v === duel.cast[side].voice)));
    return el("label", {}, `${duel.cast[side].name} `, select);
  };
  const go = el("button", { type: "button", textContent: "Speak it again" });
  go.addEventListener("click", () => revoiceDuel(duel, revoice, { stage, newest, reload }));
  revoice.append(pick("first"), pick("second"), go);
  revoice.querySelector("summary").dataset.testid = "revoice";
  if (!duel.line_count || duel.status === "running") revoice.hidden = true;
  return revoice;
}

// The server answers at once with the new duel, running while its lines are spoken;
// the status line follows it until it ends, unless a live duel has the status line.
async function revoiceDuel(duel, form, { stage, newest, reload }) {
  const body = { first: form.querySelector('[name="first"]').value, second: form.querySelector('[name="second"]').value };
  const say = (text) => stage.busy() || stage.setStatus("ready", text);
  say("Re-voicing…");
  try {
    let copy = await stage.api(`/api/duels/${duel.id}/revoice`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    await newest();
    while (copy.status === "running") {
      say(`Re-voicing: ${copy.lines.length} of ${duel.line_count} lines spoken…`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      copy = await stage.api(`/api/duels/${copy.id}`);
    }
    await reload();
    if (copy.status !== "complete") throw new Error(copy.error ?? `it ended ${copy.status}`);
    say(`Re-voiced as a new duel (${minutes(copy.audio_seconds)}), at the top of the history.`);
  } catch (err) {
    stage.showError(`Can't re-voice it: ${err.message}`);
    say("Re-voicing failed.");
  }
}
