"""Where the repository is: models/, flows/, web/ and bench/ sit beside the package."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
