// The stage: what everyone sees of a duel — status, errors, the phase banner, the two
// agents with their bubbles, the transcript, and the level meter of what is playing.

export const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

export const SIDES = ["first", "second"];

/** A new element: `props` assigned to it, `children` appended. */
export function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** Seconds as m:ss. */
export function minutes(seconds) {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function setStatus(state, text) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = text;
}

export function showError(text) {
  const el = $("error");
  el.textContent = text;
  el.hidden = false;
}

export function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
  document.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

export function showPhase(phase, phases) {
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

export function setSpeaker(side) {
  for (const s of SIDES) $(`agent-${s}`).classList.toggle("speaking", s === side);
}

export function setBubble(side, text) {
  const bubble = $(`bubble-${side}`);
  bubble.textContent = text;
  bubble.classList.remove("fresh");
  void bubble.offsetWidth;
  bubble.classList.add("fresh");
}

/** The agents' names (and personas, when known) on the stage. */
export function showCast(cast) {
  for (const side of SIDES) {
    $(`name-${side}`).textContent = cast[side].name;
    const persona = $(`persona-${side}`);
    persona.textContent = cast[side].persona ?? "";
    persona.title = cast[side].persona ?? "";
  }
}

export function addToTranscript({ speaker, side, phase, text }) {
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

export function resetStage(settings) {
  showCast(settings.cast);
  for (const side of SIDES) $(`bubble-${side}`).textContent = "";
  setSpeaker(null);
  $("transcript").replaceChildren();
  $("meter").dataset.peak = "0";
}

/** Drive the meter and the speaking animation from the level of what `player` plays. */
export function meterLoop(player) {
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
