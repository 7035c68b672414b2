// The settings form: flows (with their diagram and uploads), topic, turns, rating and
// the cast, filled from the server and read into the body of POST /api/start.

import { api } from "./api.js";
import { drawFlow } from "./diagram.js";
import { $, clearError, setStatus, showError } from "./stage.js";

const form = $("settings");
export const field = (name) => form.elements.namedItem(name);

let voiceIds = [];
/** The voice ids the server offered (for re-voicing in the history). */
export const voices = () => voiceIds;

// Told the chosen flow's phases, so the banner can show them before a duel.
let onFlowPhases = () => {};

export function readSettings() {
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

// Mark the inputs a 422 names, so the user sees where to look.
export function markInvalid(detail) {
  if (!Array.isArray(detail)) return;
  for (const problem of detail) {
    const input = field(problem.loc.filter((p) => p !== "body").join("."));
    input?.setAttribute?.("aria-invalid", "true");
  }
}

export function showSettings(open) {
  document.body.classList.toggle("settings-hidden", !open);
  $("toggle-settings").setAttribute("aria-expanded", String(open));
}

async function loadFlow(name) {
  try {
    const flow = await api(`/api/flows/${encodeURIComponent(name)}`);
    onFlowPhases(flow.phases.map((p) => p.name));
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

/** Fill the form from the server's defaults, voices, models and flows. */
export async function loadSettings() {
  const [defaults, voiceList, models] = await Promise.all([
    api("/api/defaults"),
    api("/api/voices"),
    api("/api/models"),
  ]);
  voiceIds = voiceList;
  field("topic").value = defaults.topic;
  for (const side of ["first", "second"]) {
    const agent = defaults.cast[side];
    field(`cast.${side}.name`).value = agent.name;
    field(`cast.${side}.persona`).value = agent.persona;
    fillSelect(field(`cast.${side}.voice`), voiceList, agent.voice);
    // Each model says how it is prompted: a screenplay (base models) or a chat.
    const select = field(`cast.${side}.model`);
    select.replaceChildren(
      ...models.map((m) => new Option(modelLabel(m), m.name, false, m.name === agent.model)),
    );
    $(`name-${side}`).textContent = agent.name;
  }
  await loadFlows(defaults.flow);
}

/** Wire the form's own controls; `phases` is told each chosen flow's phases. */
export function initSettings({ onSubmit, phases }) {
  onFlowPhases = phases;
  form.addEventListener("submit", onSubmit);
  $("toggle-settings").addEventListener("click", () => showSettings(document.body.classList.contains("settings-hidden")));
  field("flow").addEventListener("change", () => loadFlow(field("flow").value));
  field("upload").addEventListener("change", uploadFlow);
}
