// The History panel: stored duels (GET /api/duels), replayed through the same stage —
// avatars, bubbles, phase banner, and a transcript that follows the audio and seeks
// when a line is clicked — plus downloads, re-voicing and delete (with a confirmation).
//
// A replay plays the duel's Ogg/Opus through an <audio> element routed into the
// player's analyser, so the level meter and the speaking animation work as live.

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const PAGE = 20;

const DOWNLOADS = [
  ["audio.ogg", "Ogg"], ["audio.wav", "WAV"], ["transcript.vtt", "WebVTT"], ["transcript.md", "Markdown"], ["transcript.json", "JSON"],
];

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function minutes(seconds) {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * @param stage what main.js owns: api, player, voices(), showPhase, setSpeaker, setBubble,
 *   resetStage, setStatus, showError, clearError, updateButtons, busy() (a live duel is on)
 */
export function initHistory(stage) {
  const panel = $("history-panel");
  const list = $("history-list");
  const audio = $("replay-audio");
  let routed = false;
  let offset = 0;
  let replay = null; // { duel, lines, current, url }

  // --- the list ---

  async function load() {
    const query = new URLSearchParams({ limit: PAGE, offset });
    const filter = $("history-filter").value.trim();
    if (filter) query.set($("history-field").value, filter);
    try {
      const page = await stage.api(`/api/duels?${query}`);
      list.replaceChildren(...page.items.map(row));
      if (!page.items.length) list.append(el("li", { className: "empty", textContent: filter ? "No duel matches." : "No duels yet." }));
      $("history-count").textContent = page.total ? `${offset + 1}–${offset + page.items.length} of ${page.total}` : "";
      $("history-prev").disabled = offset === 0;
      $("history-next").disabled = offset + page.items.length >= page.total;
    } catch (err) {
      stage.showError(`Can't load the history: ${err.message}`);
    }
  }

  function row(duel) {
    const names = `${duel.cast.first.name} vs ${duel.cast.second.name}`;
    const when = new Date(duel.created_at).toLocaleString();
    const li = el("li", { className: "history-item" });
    li.dataset.id = duel.id;
    li.dataset.status = duel.status;
    const play = el("button", { type: "button", className: "replay", textContent: "Replay" });
    play.dataset.testid = "replay";
    play.disabled = !duel.line_count;
    play.addEventListener("click", () => start(duel.id));
    const remove = el("button", { type: "button", className: "delete", textContent: "Delete" });
    remove.dataset.testid = "delete";
    remove.disabled = duel.status === "running";
    remove.addEventListener("click", () => forget(duel, names));
    const downloads = el("span", { className: "downloads" },
      ...DOWNLOADS.map(([file, label]) => el("a", { href: `/api/duels/${duel.id}/${file}`, textContent: label, download: "" })));
    const revoice = el("details", { className: "revoice" }, el("summary", { textContent: "Re-voice" }));
    const pick = (side) => {
      const select = el("select", { name: side, title: `${duel.cast[side].name}'s new voice` });
      select.append(...stage.voices().map((v) => new Option(v, v, false, v === duel.cast[side].voice)));
      return el("label", {}, `${duel.cast[side].name} `, select);
    };
    const go = el("button", { type: "button", textContent: "Speak it again" });
    go.addEventListener("click", () => revoiceDuel(duel, revoice));
    revoice.append(pick("first"), pick("second"), go);
    revoice.querySelector("summary").dataset.testid = "revoice";
    if (!duel.line_count || duel.status === "running") revoice.hidden = true;
    li.append(
      el("div", { className: "history-head" },
        el("b", { className: "topic", textContent: duel.topic }),
        el("span", { className: "badge", textContent: duel.status })),
      el("div", { className: "history-meta", textContent:
        `${names} · ${duel.flow} · ${when} · ${minutes(duel.audio_seconds)} · ${duel.line_count} lines${duel.source_id ? " · re-voiced" : ""}` }),
      el("div", { className: "history-actions" }, play, downloads, remove),
      revoice,
    );
    return li;
  }

  async function forget(duel, names) {
    if (!confirm(`Delete the duel "${duel.topic}" (${names})? This can't be undone.`)) return;
    try {
      await stage.api(`/api/duels/${duel.id}`, { method: "DELETE" });
      if (replay?.duel.id === duel.id) stop();
      stage.setStatus("ready", "Duel deleted.");
      await load();
    } catch (err) {
      stage.showError(`Can't delete it: ${err.message}`);
    }
  }

  // The server answers at once with the new duel, running while its lines are spoken;
  // the status line follows it until it ends, unless a live duel has the status line.
  async function revoiceDuel(duel, form) {
    const body = { first: form.querySelector('[name="first"]').value, second: form.querySelector('[name="second"]').value };
    const say = (text) => stage.busy() || stage.setStatus("ready", text);
    say("Re-voicing…");
    try {
      let copy = await stage.api(`/api/duels/${duel.id}/revoice`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      });
      offset = 0;
      await load();
      while (copy.status === "running") {
        say(`Re-voicing: ${copy.lines.length} of ${duel.line_count} lines spoken…`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        copy = await stage.api(`/api/duels/${copy.id}`);
      }
      await load();
      if (copy.status !== "complete") throw new Error(copy.error ?? `it ended ${copy.status}`);
      say(`Re-voiced as a new duel (${minutes(copy.audio_seconds)}), at the top of the history.`);
    } catch (err) {
      stage.showError(`Can't re-voice it: ${err.message}`);
      say("Re-voicing failed.");
    }
  }

  // --- the replay ---

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

  // --- the panel ---

  function show(open) {
    document.body.classList.toggle("history-open", open);
    panel.hidden = !open;
    $("toggle-history").setAttribute("aria-expanded", String(open));
    if (open) load();
  }

  $("toggle-history").addEventListener("click", () => show(panel.hidden));
  $("history-search").addEventListener("submit", (e) => { e.preventDefault(); offset = 0; load(); });
  $("history-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
  $("history-next").addEventListener("click", () => { offset += PAGE; load(); });

  return {
    /** A live duel is starting: end any replay. */
    stop,
    /** A live duel ended: it is in the history now. */
    refresh: () => !panel.hidden && load(),
  };
}
