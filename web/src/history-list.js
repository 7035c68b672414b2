// The History panel: the stored duels (GET /api/duels), a page at a time, filtered by
// topic or cast, one row each with its Replay button (history-replay.js) and its
// downloads, Re-voice and Delete (history-actions.js).

import { deleteButton, downloadLinks, revoiceBox } from "./history-actions.js";
import { initReplay } from "./history-replay.js";
import { $, el, minutes } from "./stage.js";

const PAGE = 20;

/**
 * @param stage what main.js owns: api, player, voices(), showPhase, setSpeaker, setBubble,
 *   resetStage, setStatus, showError, clearError, updateButtons, busy() (a live duel is on)
 */
export function initHistory(stage) {
  const panel = $("history-panel");
  const list = $("history-list");
  const replay = initReplay(stage);
  let offset = 0;

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

  // The first page, where the newest duel is.
  function newest() {
    offset = 0;
    return load();
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
    play.addEventListener("click", () => replay.start(duel.id));
    li.append(
      el("div", { className: "history-head" },
        el("b", { className: "topic", textContent: duel.topic }),
        el("span", { className: "badge", textContent: duel.status })),
      el("div", { className: "history-meta", textContent:
        `${names} · ${duel.flow} · ${when} · ${minutes(duel.audio_seconds)} · ${duel.line_count} lines${duel.source_id ? " · re-voiced" : ""}` }),
      el("div", { className: "history-actions" }, play, downloadLinks(duel), deleteButton(duel, names, { stage, replay, reload: load })),
      revoiceBox(duel, { stage, newest, reload: load }),
    );
    return li;
  }

  function show(open) {
    document.body.classList.toggle("history-open", open);
    panel.hidden = !open;
    $("toggle-history").setAttribute("aria-expanded", String(open));
    if (open) load();
  }

  $("toggle-history").addEventListener("click", () => show(panel.hidden));
  $("history-search").addEventListener("submit", (e) => { e.preventDefault(); newest(); });
  $("history-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
  $("history-next").addEventListener("click", () => { offset += PAGE; load(); });

  return {
    /** A live duel is starting: end any replay. */
    stop: replay.stop,
    /** A live duel ended: it is in the history now. */
    refresh: () => !panel.hidden && load(),
  };
}
