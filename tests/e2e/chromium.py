"""Real Chromium for the browser tests: Debian's package driven by Playwright, and a
visit to the page that records every request it makes and every microphone request."""

import json
import urllib.request

import pytest
from playwright.sync_api import Page, sync_playwright

from helpers import ROOT

CHROMIUM = "/usr/bin/chromium"  # Debian's package: Playwright's own browser download fails offline
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = ROOT / "tests" / "artifacts"

# Runs before the page's own scripts: records microphone requests and every AudioContext,
# and how much audio the page schedules, so the test sees what the page really does.
SPY = """
window.__micRequests = [];
const md = navigator.mediaDevices;
if (md && md.getUserMedia) {
  const getUserMedia = md.getUserMedia.bind(md);
  md.getUserMedia = (constraints) => {
    window.__micRequests.push(JSON.stringify(constraints));
    return getUserMedia(constraints);
  };
}
for (const legacy of ["getUserMedia", "webkitGetUserMedia"]) {
  if (navigator[legacy]) navigator[legacy] = (c, ok, fail) => { window.__micRequests.push(JSON.stringify(c)); fail?.(new Error("refused")); };
}
window.__audioContexts = [];
window.__scheduledSeconds = 0;
const NativeAudioContext = window.AudioContext;
window.AudioContext = class extends NativeAudioContext {
  constructor(...args) { super(...args); window.__audioContexts.push(this); }
};
const start = AudioBufferSourceNode.prototype.start;
AudioBufferSourceNode.prototype.start = function (...args) {
  window.__scheduledSeconds += this.buffer ? this.buffer.duration : 0;
  return start.apply(this, args);
};
"""

# One look at the page: what a person would see and hear at this moment.
SNAPSHOT = """() => {
  const q = (id) => document.querySelector(`[data-testid="${id}"]`);
  const ctx = window.__audioContexts[0];
  return {
    state: q("status").dataset.state,
    phase: q("phase-banner").dataset.phase,
    level: Number(q("meter").dataset.level),
    first: q("bubble-first").textContent,
    second: q("bubble-second").textContent,
    lines: q("transcript").children.length,
    audioTime: ctx ? ctx.currentTime : null,
    audioState: ctx ? ctx.state : null,
  };
}"""


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def browser():
    if not (ROOT / "web" / "dist" / "index.html").exists():
        pytest.fail("the page is not built: run `npm ci && npm run build` in web/ (scripts/setup does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Visit:
    """A page on a fresh browser context, with every request and mic request recorded."""

    def __init__(self, browser, base: str, **context):
        # No permissions granted: a microphone request could only be refused (and is recorded).
        self.context = browser.new_context(**{"viewport": {"width": 1440, "height": 900}, **context}, permissions=[])
        self.context.add_init_script(SPY)
        self.page: Page = self.context.new_page()
        self.base = base
        self.requests: list[str] = []
        self.sockets: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("websocket", lambda ws: self.sockets.append(ws.url))
        # Anything not for our server is aborted at once (and still recorded above).
        self.context.route("**/*", self._route)

    def _route(self, route):
        if self._local(route.request.url):
            route.continue_()
        else:
            route.abort()

    def _local(self, url: str) -> bool:
        host = self.base.removeprefix("http://")
        # blob: URLs hold data the page already fetched from its server (a replay's audio)
        return url.startswith((f"http://{host}/", f"ws://{host}/", f"blob:http://{host}/"))

    def open(self, path: str = "/") -> Page:
        """The host's page, once the server says it is ready."""
        self.page.goto(self.base + path)
        self.page.wait_for_selector('[data-testid="status"][data-state="ready"]', timeout=60_000)
        return self.page

    def check_offline_and_listen_only(self):
        strangers = [url for url in self.requests + self.sockets if not self._local(url)]
        assert not strangers, f"the page reached past its server: {strangers}"
        assert self.page.evaluate("window.__micRequests") == [], "the page asked for the microphone"

    def close(self):
        self.context.close()
