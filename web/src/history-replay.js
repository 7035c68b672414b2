// One stored duel replayed through the same stage as a live one: avatars, bubbles, phase
// banner, and a transcript that follows the audio and seeks when a line is clicked.
//
// A replay plays the duel's Ogg/Opus through an <audio> element routed into the
// player's analyser, so the level meter and the speaking animation work as live.

import { $, el, minutes } from "./stage.js";

/**
 * The replay player of the History panel.
 * @param stage what main.js owns: api, player, showPhase, setSpeaker, setBubble,
 *   resetStage, setStatus, showError, clearError, updateButtons, busy() (a live duel is on)
 * @returns {{start(id), stop(), showing(id)}}: replay duel `id` (from a click: audio may
 *   start), end the replay, and whether duel `id` is the one replayed
 */
export function initReplay(stage) {
  const audio = $("replay-audio");
  let routed = false;
  let replay = null; // { duel, phases, current, url }

  async function start(id) {
    if (stage.busy()) return;
    stop();
    stage.clearError();
    const context = stage.player.unlock(); // inside the click: audio may start
    if (!routed) {
      context.createMediaElementSource(audio).connect(stage.player.analyser);
      routed = true;
    }
    stage.setStatus("starting", "Loading the duel…");
    try {
      const duel = await stage.api(`/api/duels/${id}`);
      const sound = await fetch(`/api/duels/${id}/audio.ogg`);
      if (!sound.ok) throw new Error(`the audio answered ${sound.status}`);
      const url = URL.createObjectURL(await sound.blob());
      const phases = [...new Set(duel.lines.map((l) => l.phase))];
      replay = { duel, phases, current: -1, url };
      stage.resetStage(duel);
      stage.showPhase(phases[0], phases);
      $("transcript").replaceChildren(...duel.lines.map((line, index) => {
        const li = el("li", { title: `Play from ${minutes(line.start_seconds)}` }, el("b", { textContent: line.speaker }), " ", el("span", { textContent: line.text }));
        li.dataset.side = line.side;
        li.dataset.phase = line.phase;
        li.dataset.start = line.start_seconds;
        li.tabIndex = 0;
        li.addEventListener("click", () => seek(index));
        li.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && seek(index));
        return li;
      }));
      document.body.classList.add("replaying");
      stage.updateButtons();
      audio.src = url;
      await audio.play();
      stage.setStatus("running", `Replaying: ${duel.topic}`);
    } catch (err) {
      stop();
      stage.showError(`Can't replay it: ${err.message}`);
    }
  }

  function seek(index) {
    if (!replay) return;
    audio.currentTime = replay.duel.lines[index].start_seconds + 0.001;
    if (audio.paused) audio.play();
    follow();
  }

  // The line playing at the audio's current time (the last one started), shown as live.
  function follow() {
    if (!replay) return;
    const t = audio.currentTime;
    const lines = replay.duel.lines;
    let index = -1;
    for (let i = 0; i < lines.length && lines[i].start_seconds <= t; i++) index = i;
    const line = lines[index];
    const speaking = line && t < line.start_seconds + line.audio_seconds;
    stage.setSpeaker(speaking ? line.side : null);
    if (index === replay.current) return;
    replay.current = index;
    const rows = $("transcript").children;
    for (const [i, li] of [...rows].entries()) li.toggleAttribute("aria-current", i === index);
    $("transcript").dataset.current = String(index);
    if (!line) return;
    rows[index].scrollIntoView({ block: "nearest" });
    stage.setBubble(line.side, line.text);
    stage.showPhase(line.phase, replay.phases);
  }

  function stop() {
    audio.pause();
    if (replay) URL.revokeObjectURL(replay.url);
    replay = null;
    document.body.classList.remove("replaying");
    $("transcript").removeAttribute("data-current");
    stage.setSpeaker(null);
    stage.updateButtons();
  }

  audio.addEventListener("timeupdate", follow);
  audio.addEventListener("seeked", follow);
  audio.addEventListener("ended", () => {
    follow();
    stage.setSpeaker(null);
    stage.setStatus("ended", "Replay finished.");
  });

  return { start, stop, showing: (id) => replay?.duel.id === id };
}
