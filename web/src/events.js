// The duel's wire names, in one place: the events the server sends (`data.event` of an
// RTVI `server-message`; the server's list is `DuelEvent` in local_duel/pipeline/events.py)
// and the actions the page sends (the `t` of an RTVI `client-message`; the server's list
// is `ACTIONS` in local_duel/server/ws/live.py). RTVI's own messages (`client-ready`,
// `bot-ready`, …) are the Pipecat client's business and never named here.

/** Server → page: what happened, as `data.event`. */
export const EVENT = Object.freeze({
  // the duel itself, each in step with its audio
  DUEL_STARTED: "duel-started", // the duel began: its flow, phases, cast and topic
  PHASE_CHANGED: "phase-changed", // the next phase began: `phase`
  LINE_STARTED: "line-started", // a line's audio began: `side`, `speaker`, `turn`, `phase` (its text comes next)
  LINE_TEXT: "line-text", // a line's words: `side`, `speaker`, `phase`, `turn`, `text`
  LINE_ENDED: "line-ended", // a line's audio ended (the page shows nothing for it)
  DUEL_ENDED: "duel-ended", // the duel is over: `lines`, `by` ("host" when ended by the host), the votes and the winner
  ERROR: "error", // something went wrong: `message`, `fatal` (false: the duel goes on)
  // the room watching it
  DUEL_STATE: "duel-state", // first, to each page that joins: the story so far, the room, the votes, the heckles
  AUDIENCE: "audience", // the room's size changed: `viewers`
  HECKLE: "heckle", // a viewer's heckle, accepted: `text`
  VOTES: "votes", // the tally changed: `votes` {first, second}
  CONTROL: "control", // the host skipped, paused or resumed: `action` (one of ACTION's)
  REFUSED: "refused", // to this page only: what it sent was refused: `action`, `code`, `message`
});

/** Page → server: what a viewer or the host does, as the client message's `t`. */
export const ACTION = Object.freeze({
  HECKLE: "heckle", // anyone: shout `{text}` at the stage
  VOTE: "vote", // anyone: vote `{side}` ("first" or "second")
  SKIP: "skip", // the host: skip to the next phase
  PAUSE: "pause", // the host: pause the duel
  RESUME: "resume", // the host: resume a paused duel
  END: "end", // the host: end the duel now
});
