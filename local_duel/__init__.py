"""Local Duel: two local AI agents hold a spoken duel, fully offline."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: models/, flows/ and web/ beside the package
