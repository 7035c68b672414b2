"""The live audience on the page, in real Chromium against the real server: a host's page
starts a duel and shows its watch link and QR code; a phone-sized viewer's page opens the
link late, gets the transcript so far, hears the duel, heckles and votes; the host's page
shows the vote and the heckle. No fakes: the real model, Piper and server, as in test_page.
"""

import time

from chromium import ARTIFACTS, SNAPSHOT, Visit

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
FIRST, SECOND = "Zoë", "Björn Ødegård"
LONG_PERSONA = "a retired lighthouse keeper from the far north who has opinions about every ship, storm and gull " * 2
q = lambda testid: f'[data-testid="{testid}"]'  # noqa: E731


def played_audio(samples: list[dict], page) -> bool:
    """Audio really played: one AudioContext, seconds of sound scheduled, and its clock
    advancing while the meter (an analyser on the output) showed signal."""
    loud = [(a, b) for a, b in zip(samples, samples[1:]) if a["level"] > 0 and b["level"] > 0]
    return (
        page.evaluate("window.__audioContexts.length") == 1
        and page.evaluate("window.__scheduledSeconds") > 1.0
        and any(b["audioTime"] > a["audioTime"] and a["audioState"] == "running" for a, b in loud)
    )


def test_a_viewer_on_a_phone_watches_heckles_and_votes_and_the_host_sees_it(browser, server):
    host = Visit(browser, server)
    viewer = Visit(browser, server, **PHONE)
    try:
        page = host.open()
        page.wait_for_selector(f'{q("first-model")} option', state="attached", timeout=10_000)
        page.fill(q("turns"), "2")  # six lines: time to join late, heckle and vote
        page.fill(q("first-name"), FIRST)
        page.fill(q("second-name"), SECOND)
        page.fill(q("second-persona"), LONG_PERSONA)
        page.click(q("start"))

        # The host's page: the watch link as a link and a QR code, and the controls.
        page.wait_for_selector(f'{q("watch-qr")}[data-rendered="true"]', timeout=20_000)
        watch_url = page.get_attribute(q("watch-link"), "href")
        assert watch_url.startswith(f"{server}/?watch=")
        assert page.inner_text(q("watch-link")) == watch_url
        assert page.is_visible(q("control-pause")) and page.is_visible(q("control-end"))

        # The viewer comes late: once the first line is in the host's transcript.
        page.wait_for_selector(f'{q("transcript")} li', timeout=180_000)
        phone = viewer.page
        phone.goto(watch_url)
        for host_only in ("start", "stop", "settings-panel", "control-skip", "control-pause", "control-end", "watch-link"):
            assert not phone.is_visible(q(host_only)), f"a viewer sees the host's {host_only}"
        phone.click(q("join"))  # the tap that lets a phone play audio
        phone.wait_for_selector(f'{q("transcript")} li', timeout=10_000)  # duel-state: the story so far
        first_row = page.locator(f'{q("transcript")} li').first.inner_text()
        assert phone.locator(f'{q("transcript")} li').first.inner_text() == first_row
        assert phone.inner_text(q("name-second")) == SECOND and phone.inner_text(q("persona-second")) == LONG_PERSONA.strip()
        assert phone.inner_text(q("vote-first")) == f"Vote {FIRST}"

        # A heckle every page sees arrive; a second one at once is refused in words.
        phone.wait_for_selector(f'{q("heckle-send")}:enabled')
        phone.fill(q("heckle-text"), "Is pineapple a vegetable, Björn?")
        phone.click(q("heckle-send"))
        for p in (page, phone):
            p.wait_for_selector(f'{q("heckles")} li:has-text("Is pineapple a vegetable")', timeout=10_000)
        phone.fill(q("heckle-text"), "Answer me!")
        phone.click(q("heckle-send"))
        phone.wait_for_selector(f'{q("refusal")}[data-code="rate-limited"]', timeout=10_000)
        assert "one heckle every" in phone.inner_text(q("refusal"))
        assert phone.get_attribute(q("heckle-text"), "maxlength") == "140"

        # The viewer's vote shows on the host's page, live.
        phone.click(q("vote-second"))
        # A selector, not wait_for_function("…"): the page's CSP forbids the eval that polls a string.
        page.wait_for_selector(f'{q("votes-second")}:text-is("1")', timeout=10_000)
        assert page.inner_text(q("votes-first")) == "0"
        assert page.get_attribute(q("viewers"), "data-count") == "2"  # the host and the viewer

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "viewer-phone.png"
        shot.unlink(missing_ok=True)
        samples = {"host": [], "viewer": []}
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            for name, p in (("host", page), ("viewer", phone)):
                samples[name].append(p.evaluate(SNAPSHOT))
            if not shot.exists() and samples["viewer"][-1]["level"] > 0.05:
                phone.screenshot(path=shot, full_page=True)  # mid-word, as the room sees it
            if all(s[-1]["state"] in ("ended", "failed", "stopped") for s in samples.values()):
                break
            page.wait_for_timeout(100)
        if not shot.exists():
            phone.screenshot(path=shot, full_page=True)

        for name, p in (("host", page), ("viewer", phone)):
            assert samples[name][-1]["state"] == "ended", f"{name}: {samples[name][-1]}, error: {p.inner_text(q('error'))}"
            assert played_audio(samples[name], p), f"the {name}'s page played no audio"
            winner = p.locator(q("winner"))
            assert winner.is_visible() and SECOND in winner.inner_text(), winner.inner_text()
        # The viewer joined after the first line and still has the whole transcript.
        host_lines = page.locator(f'{q("transcript")} li').all_inner_texts()
        assert len(host_lines) == 6 and phone.locator(f'{q("transcript")} li').all_inner_texts() == host_lines
        assert all(url.startswith(f"ws://{server.removeprefix('http://')}/ws?token=") for url in viewer.sockets)
        host.check_offline_and_listen_only()
        viewer.check_offline_and_listen_only()
    finally:
        viewer.close()
        host.close()
