"""The web page in real headless Chromium, against the real server.

No fakes: `local-duel serve` runs in a fresh process with the embedded llama.cpp engine
and Piper; Debian's Chromium, driven by Playwright, loads the built page (web/dist),
starts a short duel and listens to it. The test records every request the page makes
and fails on any that goes anywhere but that server, and on any microphone request.
"""

import time
import urllib.request

import pytest

from chromium import ARTIFACTS, SNAPSHOT, Visit, get_json
from helpers import ROOT


@pytest.fixture
def visit(browser, server):
    """`server` (conftest): the real `local-duel serve` on a free loopback port."""
    visit = Visit(browser, server)
    yield visit
    visit.close()


def test_bad_settings_show_the_422_in_words(visit):
    # The server's defaults come late, as on a busy machine: "ready" must wait for them,
    # or they land after the test's (a user's) typing and overwrite it.
    visit.page.route("**/api/defaults", lambda route: (time.sleep(1.5), route.continue_()))
    page = visit.open()
    page.fill('[data-testid="topic"]', "")
    page.click('[data-testid="start"]')
    error = page.locator('[data-testid="error"]')
    error.wait_for(state="visible", timeout=10_000)
    page.wait_for_selector('[data-testid="flow-diagram"][data-rendered="mermaid"] svg', timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "settings-error.png")
    assert "Topic" in error.inner_text()
    assert "at least 1 character" in error.inner_text()
    assert page.get_attribute('[data-testid="topic"]', "aria-invalid") == "true"
    assert page.get_attribute('[data-testid="status"]', "data-state") == "ready"
    assert visit.sockets == [], "no duel may start from bad settings"
    visit.check_offline_and_listen_only()


def test_a_short_duel_is_seen_and_heard(visit, server):
    page = visit.open()
    # The settings come from the server: flows with their Mermaid diagram, voices, the cast.
    page.wait_for_selector('[data-testid="flow-diagram"][data-rendered="mermaid"] svg', timeout=30_000)
    assert "goodbye" in page.locator('[data-testid="flow-diagram"]').inner_text()
    assert page.locator('[data-testid="first-voice"] option').count() == len(get_json(f"{server}/api/voices"))
    # The bundled model with our adapter, untaught beside it for a user to hear the
    # difference, and a real instruction-tuned model
    assert page.locator('[data-testid="second-model"] option').all_text_contents() == [
        "local-duel · screenplay · 253 MB", "local-duel-base · screenplay · 253 MB", "smollm2-135m-instruct · chat · 98 MB"]
    first, second = page.input_value('[data-testid="first-name"]'), page.input_value('[data-testid="second-name"]')

    page.fill('[data-testid="turns"]', "1")  # one line per phase: 3 lines in the default flow
    # The rating: the flow's by default, family or adult on demand, sent with the duel.
    assert page.input_value('[data-testid="rating"]') == ""
    page.select_option('[data-testid="rating"]', "family")
    with page.expect_request("**/api/start") as start:
        page.click('[data-testid="start"]')
    assert start.value.post_data_json["rating"] == "family"

    samples = []
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "page.png"
    screenshot.unlink(missing_ok=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        sample = page.evaluate(SNAPSHOT)
        samples.append(sample)
        if sample["state"] in ("ended", "failed", "stopped"):
            break
        if sample["lines"] == 3 and sample["level"] > 0.05 and not screenshot.exists():
            page.screenshot(path=screenshot)  # the last line, mid-word: the page as people see it
        page.wait_for_timeout(100)
    final = samples[-1]
    if not screenshot.exists():
        page.screenshot(path=screenshot)

    error = page.locator('[data-testid="error"]')
    assert final["state"] == "ended", f"the duel did not end well: {final}, error: {error.inner_text()}"
    assert error.is_hidden()

    # The transcript has every line, alternating sides, each in its speaker's name.
    rows = page.locator('[data-testid="transcript"] li')
    lines = [
        {"side": rows.nth(i).get_attribute("data-side"), "speaker": rows.nth(i).locator("b").inner_text(),
         "text": rows.nth(i).locator("span").inner_text()}
        for i in range(rows.count())
    ]
    assert [(line["side"], line["speaker"]) for line in lines] == [("first", first), ("second", second), ("first", first)]
    assert all(line["text"].strip() for line in lines)

    # Each line showed in its speaker's bubble while it was spoken.
    for side in ("first", "second"):
        shown = {sample[side] for sample in samples}
        for line in lines:
            if line["side"] == side:
                assert line["text"] in shown, f"{line} never appeared in the {side} bubble"

    # The phase banner moved through the flow's phases, in order.
    phases = [p for i, p in enumerate(s["phase"] for s in samples) if i == 0 or p != samples[i - 1]["phase"]]
    assert phases[-3:] == ["flirt", "roast", "goodbye"], phases
    assert page.locator('[data-testid="phase-steps"] li[aria-current="step"]').inner_text() == "goodbye"

    # Audio really played: the AudioContext ran and its clock advanced while the meter,
    # fed by an analyser on the output, showed signal.
    assert page.evaluate("window.__audioContexts.length") == 1
    assert page.evaluate("window.__scheduledSeconds") > 1.0
    loud = [(a, b) for a, b in zip(samples, samples[1:]) if a["level"] > 0 and b["level"] > 0]
    assert loud, "the meter never showed a level"
    assert any(b["audioTime"] > a["audioTime"] and a["audioState"] == "running" for a, b in loud)

    assert visit.sockets and all("/ws?token=" in url for url in visit.sockets)
    visit.check_offline_and_listen_only()


def duels_running(server: str, expected: int, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while (running := get_json(f"{server}/api/health")["duels_running"]) != expected:
        assert time.monotonic() < deadline, f"{running} duels running, expected {expected}"
        time.sleep(0.2)


def test_stop_ends_the_duel_on_the_server(visit, server):
    duels_running(server, 0)  # the server is shared: let earlier tests' duels finish
    page = visit.open()
    page.fill('[data-testid="turns"]', "3")
    page.click('[data-testid="start"]')
    try:
        page.wait_for_selector('[data-testid="transcript"] li', timeout=120_000)
    except Exception as e:  # seen once in CI: say what the page and the server showed
        status, error = (page.inner_text(f'[data-testid="{t}"]') for t in ("status", "error"))
        raise AssertionError(f"no line in 120 s; status {status!r}, error {error!r}, health {get_json(f'{server}/api/health')}") from e
    duels_running(server, 1, within=0)
    page.click('[data-testid="stop"]')
    assert page.get_attribute('[data-testid="status"]', "data-state") == "stopped"
    assert page.locator('[data-testid="error"]').is_hidden()
    assert page.is_enabled('[data-testid="start"]')
    duels_running(server, 0)  # closing the socket cancels the duel server-side
    visit.check_offline_and_listen_only()


UPLOAD = b"""\
initial_node: chat
nodes:
  chat:
    role_message: "{{ first.name }} meets {{ second.name }} to talk about {{ topic }}."
    task_messages:
      - {role: developer, content: "{{ speaker }} is polite to {{ partner }}."}
    post_actions:
      - {type: function, handler: take_turn, turns: 2, next: fight}
  fight:
    task_messages:
      - {role: developer, content: They argue.}
    post_actions:
      - {type: function, handler: take_turn, turns: 2}
"""


def test_uploaded_flows_are_checked_and_offered(visit):
    page = visit.open()
    upload = page.locator('[data-testid="flow-upload"]')
    upload.set_input_files(files=[{"name": "page_broken.yaml", "mimeType": "application/yaml", "buffer": b"nodes: [unclosed"}])
    error = page.locator('[data-testid="error"]')
    error.wait_for(state="visible", timeout=10_000)
    assert "Upload refused" in error.inner_text() and "YAML" in error.inner_text()

    upload.set_input_files(files=[{"name": "page_polite.yaml", "mimeType": "application/yaml", "buffer": UPLOAD}])
    page.wait_for_selector('[data-testid="flow-diagram"][data-flow="page_polite"][data-rendered="mermaid"] svg', timeout=30_000)
    assert page.input_value('[data-testid="flow"]') == "page_polite"
    assert error.is_hidden()
    assert page.locator('[data-testid="phase-steps"] li').all_inner_texts() == ["chat", "fight"]
    visit.check_offline_and_listen_only()


def test_the_page_says_the_engine_is_warming_up_then_ready_and_when_the_stage_is_full(browser, tmp_path):
    """A server just started serves the page at once, while its engine still loads:
    the page says so in words, then turns ready by itself. This server admits no duel
    (LOCAL_DUEL_MAX_DUELS=0), so Start gets a 429, which the page says in words."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from local_duel.core.child import free_port

    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("local-duel")), "serve", "--port", str(port)],
        cwd=ROOT, env={**os.environ, "LOCAL_DUEL_MAX_DUELS": "0"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    visit = Visit(browser, f"http://127.0.0.1:{port}")
    try:
        up_by = time.monotonic() + 60  # the page is up long before the engine; a loaded 2-core CI took over 10 s
        while True:
            try:
                urllib.request.urlopen(f"{visit.base}/", timeout=1)
                break
            except OSError:
                assert time.monotonic() < up_by, "the server did not serve its page within 60 s"
                time.sleep(0.1)
        visit.page.goto(visit.base + "/")
        status = visit.page.locator('[data-testid="status"]')
        visit.page.wait_for_selector('[data-testid="status"][data-state="warming"]', timeout=10_000)  # its first poll
        assert "warming up" in status.inner_text()
        visit.page.wait_for_selector('[data-testid="status"][data-state="ready"]', timeout=60_000)
        visit.page.wait_for_selector('[data-testid="first-model"] option', state="attached", timeout=10_000)
        assert visit.page.locator('[data-testid="error"]').is_hidden()
        assert "local-duel · screenplay · 253 MB" in visit.page.inner_text('[data-testid="first-model"]')
        visit.page.click('[data-testid="start"]')
        visit.page.wait_for_selector('[data-testid="status"][data-state="full"]', timeout=10_000)
        assert "The stage is full" in status.inner_text()
        assert "the stage is full" in visit.page.inner_text('[data-testid="error"]')
        assert visit.sockets == []
        visit.check_offline_and_listen_only()
    finally:
        visit.close()
        process.terminate()
        process.wait(timeout=30)
