"""The two agents of a duel: who they are and how they sound."""

from pathlib import Path

import yaml
from pydantic import BaseModel, Field, model_validator

from local_duel.core.paths import ROOT
from local_duel.show.plain_text import OneLine, SpeakerName

DEFAULT_CAST = ROOT / "flows" / "casts" / "default.yaml"
DEFAULT_TOPIC = "pineapple on pizza"


class Agent(BaseModel):
    """One side of the duel."""

    name: SpeakerName = Field(min_length=1, max_length=24)
    persona: OneLine = Field(min_length=1, max_length=400)
    voice: str = Field(min_length=1)
    model: str | None = None


class Cast(BaseModel):
    """Two agents with different names; `first` opens the duel."""

    first: Agent
    second: Agent

    @model_validator(mode="after")
    def _distinct(self) -> "Cast":
        if self.first.name == self.second.name:
            raise ValueError(f"both agents are called '{self.first.name}'; give them different names")
        return self

    @property
    def agents(self) -> tuple[Agent, Agent]:
        return (self.first, self.second)

    @property
    def names(self) -> list[str]:
        return [self.first.name, self.second.name]

    @classmethod
    def from_file(cls, path: Path) -> "Cast":
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
