"""A spoken line, and the editing that makes raw model output fit to speak."""

import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from ftfy.badness import is_bad

MAX_SENTENCES = 2
MAX_WORDS = 40

_TAGS = re.compile(r"<[^>\n]{0,40}>")  # <end_of_turn>, <bos>, </s>, <|im_end|> …
_ASIDES = re.compile(r"\([^)]*\)|\[[^\]]*\]|\*[^*]*\*")  # (laughs), [beat], *winks*
_DANGLING_ASIDE = re.compile(r"[(\[*].*$")
_ENDS = ".!?…。！？"  # sentence ends, CJK among them
_SENTENCE = re.compile(rf"[^{_ENDS}]+(?:[{_ENDS}]+|$)")
_LETTER = re.compile(r"[^\W\d_]")  # a letter of any script
_SETTLED = re.compile(r".*(?:\s|[。！？])", re.DOTALL)  # up to the last space or CJK end: no later token can change it
_NOT_SPOKEN = set("@/\\\ufe0e\ufe0f")  # besides symbols and control characters: emoji, signs…
# An apostrophe written as an accent or a prime ("don´t", "don`t"): those are symbols,
# and "don t" would be read as two words.
_APOSTROPHE = re.compile(r"(?<=[^\W\d_])[´`ʹʼ′](?=[^\W\d_])")


def _spoken(text: str) -> str:
    """Only what a voice can read as words: symbols (emoji among them) become spaces."""
    return "".join(
        " " if ch in _NOT_SPOKEN or unicodedata.category(ch)[0] in "SC" else ch for ch in text
    )


def _wide(text: str) -> bool:
    """CJK writes a sentence without spaces, so one "word" of it can be a whole line."""
    return sum(unicodedata.east_asian_width(ch) == "W" for ch in text) >= 4


@dataclass
class Line:
    """One line of the duel as it was spoken, with its timings in seconds."""

    speaker: str
    phase: str
    turn: int
    text: str
    attempts: int = 1
    move: str = ""  # the micro-direction its cue carried (local_duel.show.move)
    heckle: str | None = None  # the audience's heckle this line answers (local_duel.pipeline.heckle)
    time_to_first_token: float | None = None
    time_to_first_audio: float | None = None
    audio_seconds: float = 0.0
    tokens: int = 0  # streamed LLM chunks for the accepted attempt: one token each from llama.cpp
    drafts: int = 0  # drafts written for the accepted attempt (local_duel.pipeline.pace)
    started_at: float = field(default=0.0, repr=False)
    # Wall-clock marks (epoch seconds) for timelines: llm_start, llm_end, tts_start, tts_end.
    marks: dict[str, float] = field(default_factory=dict, repr=False)

    def mark(self, name: str) -> None:
        self.marks[name] = time.time()

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("started_at")
        return data


def clean(raw: str, names: Sequence[str], sentences: int = MAX_SENTENCES) -> str | None:
    """Edit raw model output into one to `sentences` clean sentences, or None if nothing usable.

    The base model continues a screenplay, so it may repeat the cue, run on into the
    partner's line, add stage directions or leak template tokens; all of that goes. It
    also writes UTF-8 read as Latin-1 now and then ("isnâ\x80\x99t"): that is refused
    here, on the raw text, since the editing below turns the control characters into
    spaces, and "isnâ t" no longer looks like mojibake to ftfy, only to a listener.
    """
    if is_bad(raw):
        return None
    text = _TAGS.sub(" ", raw).replace("\r", "\n").split("\n")[0]
    if names:
        named = "|".join(re.escape(name) for name in names)
        text = re.sub(rf"^(?:\s*(?:{named})\s*[:：])+\s*", "", text)  # "Ava: " or "さくら：", repeated
        text = re.split(rf"(?<!\w)(?:{named})\s*[:：]", text)[0]  # the model ran on into the next line
    text = _DANGLING_ASIDE.sub("", _ASIDES.sub(" ", text))
    text = " ".join(re.sub(r"[\"“”()\[\]*_#]", " ", _spoken(_APOSTROPHE.sub("’", text))).split()).strip(" -–—:;,")
    found = [s.strip() for s in _SENTENCE.findall(text) if _LETTER.search(s)]
    if not found:
        return None
    complete = [s for s in found if s[-1] in _ENDS]
    kept = (complete or found)[:sentences]
    text = " ".join(kept)
    words = text.split()
    if (len(words) < 2 and not _wide(text)) or any(name.lower() == text.lower().rstrip(_ENDS) for name in names):
        return None
    if len(words) > MAX_WORDS:
        text = " ".join(words[:MAX_WORDS]).rstrip(",;:") + "…"
    if text[-1] not in _ENDS:
        text += "."
    return text[0].upper() + text[1:]


def settled_sentences(raw: str) -> int:
    """How many whole sentences `clean` could already keep from raw output still being
    written: a sentence counts once something follows its end mark, since "3." may yet
    become "3.5". The writer stops asking for more once a line has all it can keep."""
    first = _ASIDES.sub(" ", _TAGS.sub(" ", raw)).split("\n")[0]
    settled = _SETTLED.match(first)
    return sum(s.strip()[-1] in _ENDS for s in _SENTENCE.findall(settled[0]) if _LETTER.search(s)) if settled else 0
