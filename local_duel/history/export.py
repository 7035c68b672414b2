"""A stored duel's transcript as JSON, as WebVTT subtitles, and as a Markdown script.

Cue times are the lines' places in the duel's audio (`start_seconds`), the same
numbers the audio is assembled from, so the subtitles follow the sound exactly.
"""

import json
import re

from local_duel.history.records import DuelDetail

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def as_json(duel: DuelDetail) -> str:
    return json.dumps(duel.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def _vtt_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("-->", "--&gt;")


def as_webvtt(duel: DuelDetail) -> str:
    """One cue per line, voiced by its speaker (`<v Name>`), its phase in a NOTE."""
    blocks = ["WEBVTT"]
    phase = None
    for line in duel.lines:
        if line.phase != phase:
            phase = line.phase
            blocks.append(f"NOTE phase: {_vtt_text(phase)}")
        end = line.start_seconds + line.audio_seconds
        blocks.append(
            f"{line.number}\n{_timestamp(line.start_seconds)} --> {_timestamp(end)}\n"
            f"<v {_vtt_text(line.speaker)}>{_vtt_text(line.text)}"
        )
    return "\n\n".join(blocks) + "\n"


def _md(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def as_markdown(duel: DuelDetail) -> str:
    """A screenplay to read: the scene, then each phase's lines, with times."""
    first, second = duel.cast["first"], duel.cast["second"]
    out = [
        f"# {_md(duel.topic)}",
        "",
        f"A *{_md(duel.flow)}* duel between **{_md(first['name'])}**, {_md(first['persona'])}, and "
        f"**{_md(second['name'])}**, {_md(second['persona'])}.",
        "",
        f"{duel.created_at:%Y-%m-%d %H:%M} UTC · {duel.line_count} lines · {duel.audio_seconds:.0f} s · {duel.status}",
    ]
    phase = None
    for line in duel.lines:
        if line.phase != phase:
            phase = line.phase
            out += ["", f"## {_md(phase)}", ""]
        minutes, seconds = divmod(int(line.start_seconds), 60)
        out.append(f"**{_md(line.speaker)}** ({minutes}:{seconds:02d}): {_md(line.text)}  ")
    return "\n".join(out) + "\n"


EXPORTS = {
    "json": ("application/json", as_json),
    "vtt": ("text/vtt", as_webvtt),
    "md": ("text/markdown", as_markdown),
}
