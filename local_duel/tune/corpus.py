"""The duel corpus (`corpus/`): scenes loaded, checked, and laid out as the screenplay
the app prompts, so the model learns lines in exactly the form it is asked for them.

A scene becomes one text: the scene (the flow's role message), a blank line, then one
row per entry. Only the lines are learned; the rest is context (`Piece.learned`).
"""

import hashlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from local_duel.core.paths import ROOT
from local_duel.pipeline.heckle import direction as heckle_direction
from local_duel.pipeline.words import spoken, word_limit

CORPUS = ROOT / "corpus"
SPLITS = ("train", "held_out")
MAX_WORDS = 40  # a spoken line, unless its move or its phase's direction sets a lower limit


class CorpusError(ValueError):
    """A scene that is not in the corpus's form; the message names the file and scene."""


@dataclass(frozen=True)
class Piece:
    """A stretch of a scene's text, and whether the model learns it."""

    text: str
    learned: bool


@dataclass(frozen=True)
class Scene:
    flow: str
    topic: str
    names: tuple[str, str]
    personas: tuple[str, str]
    scene: str
    script: tuple[dict, ...]
    rating: str = "family"

    @property
    def lines(self) -> list[dict]:
        return [e for e in self.script if "line" in e]

    def pieces(self) -> list[Piece]:
        """The screenplay as the app prompts it: each line's cue (`Ava (move):`) is context,
        the line after it (with the newline that ends it) is learned."""
        pieces, text, started = [], self.scene + "\n\n", False
        for entry in self.script:
            row_start = "\n" if started else ""
            started = True
            if "direction" in entry:
                text += f"{row_start}({entry['direction']})"
            elif "heckle" in entry:
                speaker = self._next_speaker(entry)
                text += f"{row_start}({heckle_direction(entry['heckle'], speaker)})"
            else:
                move = f" ({entry['move']})" if entry.get("move") else ""
                text += f"{row_start}{entry['speaker']}{move}:"
                pieces += [Piece(text, False), Piece(f" {entry['line']}\n", True)]
                text, started = "", False
        return pieces

    def _next_speaker(self, heckle: dict) -> str:
        after = self.script[self.script.index(heckle) + 1 :]
        return next((e["speaker"] for e in after if "line" in e), self.names[0])


def _check(raw: object, where: str) -> Scene:
    if not isinstance(raw, dict):
        raise CorpusError(f"{where}: a scene is a mapping, not {type(raw).__name__}")
    missing = {"flow", "topic", "cast", "scene", "script"} - set(raw)
    if missing:
        raise CorpusError(f"{where}: missing {', '.join(sorted(missing))}")
    cast = raw["cast"]
    if not (isinstance(cast, list) and len(cast) == 2 and all(isinstance(a, dict) and a.get("name") and a.get("persona") for a in cast)):
        raise CorpusError(f"{where}: `cast` is two agents, each with a name and a persona")
    names = tuple(str(a["name"]) for a in cast)
    if names[0] == names[1]:
        raise CorpusError(f"{where}: both agents are called {names[0]}")
    script, expected, direction = [], 0, ""
    for n, entry in enumerate(raw["script"] or []):
        at = f"{where}, script entry {n + 1}"
        if not isinstance(entry, dict):
            raise CorpusError(f"{at}: an entry is a mapping (direction, heckle, or speaker/move/line)")
        if "direction" in entry or "heckle" in entry:
            key = "direction" if "direction" in entry else "heckle"
            if not str(entry[key] or "").strip():
                raise CorpusError(f"{at}: an empty {key}")
            script.append({key: " ".join(str(entry[key]).split())})
            direction = script[-1].get("direction", direction)
            continue
        if not entry.get("speaker") or not str(entry.get("line") or "").strip():
            raise CorpusError(f"{at}: a line needs `speaker` and `line`")
        speaker = str(entry["speaker"])
        if speaker != names[expected % 2]:
            raise CorpusError(f"{at}: {names[expected % 2]} speaks here, not {speaker} (speakers alternate, first agent first)")
        line = " ".join(str(entry["line"]).split())
        if len(line.split()) > MAX_WORDS or "\n" in str(entry["line"]).strip():
            raise CorpusError(f"{at}: a line is one short row of at most {MAX_WORDS} words")
        move = " ".join(str(entry.get("move") or "").split())
        if (limit := word_limit(move, direction)) and spoken(line) > limit:
            raise CorpusError(f"{at}: {spoken(line)} words, and its move or direction allows {limit}")
        expected += 1
        script.append({"speaker": speaker, "move": move, "line": line})
    if expected < 4 or "direction" not in script[0]:
        raise CorpusError(f"{where}: a scene opens with a direction and has at least four lines")
    return Scene(
        str(raw["flow"]), " ".join(str(raw["topic"]).split()), names, tuple(str(a["persona"]) for a in cast),
        " ".join(str(raw["scene"]).split()), tuple(script), str(raw.get("rating", "family")),
    )


def read(path: Path) -> list[Scene]:
    """The scenes of one corpus file; CorpusError naming the first wrong one."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise CorpusError(f"{path.name}: not YAML: {e}") from e
    if not isinstance(raw, list):
        raise CorpusError(f"{path.name}: a corpus file is a list of scenes")
    return [_check(scene, f"{path.name}, scene {n + 1}") for n, scene in enumerate(raw)]


def load(split: str, root: Path = CORPUS) -> list[Scene]:
    """Every scene of a split, file by file in name order."""
    return [scene for path in sorted((root / split).glob("*.yaml")) for scene in read(path)]


def files(root: Path = CORPUS) -> list[str]:
    """Every corpus file, as `split/name.yaml`, in order."""
    return [f"{split}/{path.name}" for split in SPLITS for path in sorted((root / split).glob("*.yaml"))]


def digest(root: Path = CORPUS) -> str:
    """The corpus's SHA-256 over every file of every split: what an adapter was trained on."""
    sha = hashlib.sha256()
    for name in files(root):
        sha.update(f"{name}\n".encode())
        sha.update((root / name).read_bytes())
    return sha.hexdigest()


def overlap(train: Iterable[Scene], held_out: Iterable[Scene]) -> dict[str, set[str]]:
    """Flows, personas and topics the held-out split shares with training: must be none."""
    train, held_out = list(train), list(held_out)

    def keys(scenes: list[Scene]) -> dict[str, set[str]]:
        return {
            "flows": {s.flow.lower() for s in scenes},
            "personas": {p.lower() for s in scenes for p in s.personas},
            "topics": {s.topic.lower() for s in scenes},
        }

    a, b = keys(train), keys(held_out)
    return {k: a[k] & b[k] for k in a}


if __name__ == "__main__":  # python -m local_duel.tune.corpus FILE…: check files as they are written
    for name in sys.argv[1:]:
        scenes = read(Path(name))
        print(f"{name}: {len(scenes)} scenes, {sum(len(s.lines) for s in scenes)} lines, ok")
