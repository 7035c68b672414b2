// Talking to the server: JSON over fetch, errors in words, and what /api/health means.

export class ApiError extends Error {
  constructor(status, detail) {
    super(describe(detail).join("\n") || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

export async function api(path, init) {
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

/**
 * The server's health as `{state, message, report}`: state is "warming", "ready" or
 * "failed", as the server says it in its `state` field (at the top of the answer, or in a
 * 503's detail). A server that doesn't say yet is ready on 200 and warming otherwise;
 * its message still says why. A server that can't be reached (or answers something
 * else) is `unreachable`.
 */
export async function health() {
  let res;
  try {
    res = await fetch("/api/health");
  } catch {
    return { state: "unreachable", message: "", report: null };
  }
  const body = await res.json().catch(() => null);
  const said = body?.state ? body : typeof body?.detail === "object" && body.detail?.state ? body.detail : null;
  const detail = typeof body?.detail === "string" ? body.detail : "";
  if (!said && !res.ok && res.status !== 503) return { state: "unreachable", message: "", report: null };
  return {
    state: said?.state ?? (res.ok ? "ready" : "warming"),
    message: said?.message ?? detail,
    report: res.ok ? body : null,
  };
}
