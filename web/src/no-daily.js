// Stands in for @daily-co/daily-js (see vite.config.js). The websocket transport
// imports it only for DailyMediaManager, which this page never uses: Daily's
// createCallObject() would fetch its call bundle from a CDN, and this app is offline.
function refuse() {
  throw new Error("Daily is not bundled: Local Duel plays audio with its own media manager");
}

export default { createCallObject: refuse, getCallInstance: () => undefined };
