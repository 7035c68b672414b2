// The flow's phase diagram, drawn by the bundled mermaid package from the Mermaid text
// that GET /api/flows/{name} returns. mermaid is large, so it is imported lazily (its
// own chunk, served by our server like the rest of the page: nothing external).

let mermaid = null;
let renders = 0;

async function loadMermaid() {
  if (!mermaid) {
    mermaid = import("mermaid").then(({ default: m }) => {
      m.initialize({
        startOnLoad: false,
        securityLevel: "strict",
        flowchart: { htmlLabels: false },
        // The page's own colours, so the diagram reads on a projector too.
        theme: "base",
        themeVariables: {
          darkMode: true,
          fontFamily: "system-ui, sans-serif",
          fontSize: "18px",
          primaryColor: "#1c2540",
          primaryTextColor: "#f1f5f9",
          primaryBorderColor: "#facc15",
          lineColor: "#a5b4cc",
          background: "#0b1020",
        },
      });
      return m;
    });
  }
  return mermaid;
}

/** Draw `flow` ({name, phases, mermaid}) into `el`; plain text if mermaid fails. */
export async function drawFlow(el, flow) {
  el.dataset.flow = flow.name;
  el.dataset.rendered = "false";
  try {
    const m = await loadMermaid();
    const { svg } = await m.render(`flow-diagram-${++renders}`, flow.mermaid);
    if (el.dataset.flow !== flow.name) return; // another flow was picked meanwhile
    el.innerHTML = svg;
    el.dataset.rendered = "mermaid";
  } catch (err) {
    console.warn("phase diagram:", err);
    if (el.dataset.flow !== flow.name) return;
    el.textContent = flow.phases.map((p) => `${p.name} (${p.turns})`).join(" → ");
    el.dataset.rendered = "text";
  }
}
