"""The flows a duel can use: files in `flows/`, and flows uploaded through the API.

Uploads are checked exactly like files (without `!include`, which could read any file
on the server) and kept on disk in `flows/uploaded/`, so a restart loses nothing.
"""

import re
from pathlib import Path

from local_duel.flow import DuelFlow, FlowFileError, load_flow, parse_flow

SUFFIXES = (".yaml", ".yml", ".json")
_NAME = re.compile(r"^[\w-]{1,64}$")


class FlowCatalog:
    def __init__(self, flows_dir: Path):
        self.bundled_dir = flows_dir
        self.uploaded_dir = flows_dir / "uploaded"

    def _files(self, folder: Path) -> dict[str, Path]:
        return {p.stem: p for p in sorted(folder.glob("*")) if p.suffix in SUFFIXES}

    def names(self) -> dict[str, bool]:
        """Flow name → whether it was uploaded."""
        bundled = self._files(self.bundled_dir)
        return {**{n: False for n in bundled}, **{n: True for n in self._files(self.uploaded_dir) if n not in bundled}}

    def get(self, name: str) -> DuelFlow:
        path = self._files(self.bundled_dir).get(name) or self._files(self.uploaded_dir).get(name)
        if path is None:
            raise KeyError(name)
        if path.parent == self.uploaded_dir:  # uploads never get `!include`, on load as on upload
            return parse_flow(path.read_text(encoding="utf-8"), path.name, json_format=path.suffix == ".json")
        return load_flow(path)

    def upload(self, name: str, text: str, json_format: bool) -> DuelFlow:
        if not _NAME.match(name):
            raise FlowFileError(f"flow name '{name}' must be 1–64 letters, digits, '-' or '_'")
        if name in self._files(self.bundled_dir):
            raise FlowFileError(f"'{name}' is a bundled flow; upload under another name")
        filename = f"{name}{'.json' if json_format else '.yaml'}"
        flow = parse_flow(text, filename, json_format=json_format)
        self.uploaded_dir.mkdir(parents=True, exist_ok=True)
        if old := self._files(self.uploaded_dir).get(name):  # a new upload replaces the old one
            old.unlink()
        (self.uploaded_dir / filename).write_text(text, encoding="utf-8")
        return flow


def mermaid(flow: DuelFlow) -> str:
    """The phases as a Mermaid flowchart: one box per phase with its turns, then the end."""
    rows = ["flowchart LR"]
    for phase in flow.phases:
        rows.append(f'    p_{phase.name}["{phase.name} · {phase.turns} turns"]')
    for phase in flow.phases:
        rows.append(f"    p_{phase.name} --> {f'p_{phase.next}' if phase.next else 'finish((end))'}")
    return "\n".join(rows)
