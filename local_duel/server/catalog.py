"""The flows a duel can use: files in `flows/`, and flows uploaded through the API.

Uploads are checked exactly like files (without `!include`, which could read any file
on the server) and kept on disk in `flows/uploaded/`, so a restart loses nothing. Each
file is parsed once per version; one that fails its checks (a broken file, or one kept
before the checks were tightened) is skipped with a warning, never fatal.
"""

import re
from pathlib import Path

from loguru import logger

from local_duel.show.flow import DuelFlow, FlowFileError, load_flow, parse_flow

SUFFIXES = (".yaml", ".yml", ".json")
_NAME = re.compile(r"^[\w-]{1,64}$")


class UploadsFull(Exception):
    """The server keeps no more uploads: too many, or too many bytes; the message says which."""


class FlowCatalog:
    def __init__(self, flows_dir: Path, max_turns: int | None = None, max_files: int = 32, max_bytes: int = 1 << 20):
        self.bundled_dir = flows_dir
        self.uploaded_dir = flows_dir / "uploaded"
        self.max_turns = max_turns
        self.max_files = max_files
        self.max_bytes = max_bytes
        self._parsed: dict[Path, tuple[tuple[int, int], DuelFlow | FlowFileError]] = {}

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
        try:
            stat = path.stat()
        except OSError:
            raise KeyError(name) from None
        version = (stat.st_mtime_ns, stat.st_size)
        known = self._parsed.get(path)
        if known is None or known[0] != version:
            try:
                known = (version, self._parse(path))
            except FlowFileError as e:
                logger.warning(f"skipping flow '{name}': {e}")
                known = (version, e)
            self._parsed[path] = known
        if isinstance(known[1], FlowFileError):
            raise known[1]
        return known[1]

    def _parse(self, path: Path) -> DuelFlow:
        if path.parent != self.uploaded_dir:
            return load_flow(path, self.max_turns, source=path.name)
        try:  # uploads never get `!include`, on load as on upload
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise FlowFileError(f"{path.name}: can't read it: {e}") from None
        return parse_flow(text, path.name, json_format=path.suffix == ".json", max_turns=self.max_turns)

    def upload(self, name: str, text: str, json_format: bool) -> DuelFlow:
        """Check and keep an uploaded flow, replacing one of the same name; `UploadsFull`
        if that would pass the count or the bytes the server keeps."""
        if not _NAME.match(name):
            raise FlowFileError(f"flow name '{name}' must be 1–64 letters, digits, '-' or '_'")
        if name in self._files(self.bundled_dir):
            raise FlowFileError(f"'{name}' is a bundled flow; upload under another name")
        filename = f"{name}{'.json' if json_format else '.yaml'}"
        flow = parse_flow(text, filename, json_format=json_format, max_turns=self.max_turns)
        others = [p for n, p in self._files(self.uploaded_dir).items() if n != name]
        if len(others) >= self.max_files:
            raise UploadsFull(
                f"the server keeps at most {self.max_files} uploaded flows (LOCAL_DUEL_UPLOAD_MAX_FILES); "
                f"replace one by uploading under its name, or remove some from {self.uploaded_dir}"
            )
        kept = sum(p.stat().st_size for p in others)
        if kept + len(text.encode()) > self.max_bytes:
            raise UploadsFull(
                f"uploaded flows may take {self.max_bytes} bytes in all (LOCAL_DUEL_UPLOAD_MAX_BYTES); "
                f"{kept} are taken and this one has {len(text.encode())}"
            )
        self.uploaded_dir.mkdir(parents=True, exist_ok=True)
        if old := self._files(self.uploaded_dir).get(name):  # a new upload replaces the old one
            old.unlink()
            self._parsed.pop(old, None)
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
