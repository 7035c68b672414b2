"""Where a duel stands: who speaks next, in which phase, at which turn and attempt.

`Turns` moves it on after each line and the `Prompter` reads it for each cue. Pipecat
Flows fills a node's `{{ key }}` placeholders from the FlowManager's own state dict, so
`placeholders()` is written into that dict before each node is entered: the dict is a
view of this state, never changed on its own.
"""

from dataclasses import dataclass

from local_duel.show.cast import Cast


@dataclass
class DuelState:
    """The duel's progress. `turn` counts lines over the whole duel, `phase_turn` within
    the phase, and `attempt` the tries at this turn's line (a rejected line is asked again)."""

    cast: Cast
    topic: str
    phase: str
    speaker: str
    partner: str
    turn: int = 1
    phase_turn: int = 1
    attempt: int = 1

    @classmethod
    def opening(cls, cast: Cast, topic: str, phase: str) -> "DuelState":
        """The first turn: the cast's first agent speaks."""
        return cls(cast, topic, phase, speaker=cast.first.name, partner=cast.second.name)

    def persona(self, name: str) -> str:
        return next(agent.persona for agent in self.cast.agents if agent.name == name)

    def next_turn(self) -> None:
        """The cue passes to the partner, for a new turn's first attempt."""
        self.turn += 1
        self.phase_turn += 1
        self.attempt = 1
        self.speaker, self.partner = self.partner, self.speaker

    def next_phase(self, phase: str) -> None:
        self.phase, self.phase_turn = phase, 1

    def placeholders(self) -> dict:
        """What a flow's `{{ key }}` placeholders are filled with (`FLOW_PLACEHOLDERS`)."""
        first, second = self.cast.agents
        return {
            "first": {"name": first.name, "persona": first.persona},
            "second": {"name": second.name, "persona": second.persona},
            "topic": self.topic,
            "speaker": self.speaker,
            "partner": self.partner,
            "phase": self.phase,
            "turn": self.turn,
        }
