"""Loading duel flows: Pipecat Flows `FlowConfig` files, checked for what a duel needs.

A broken file gets a `FlowFileError` naming the file and the problem, before any model
is loaded: bad YAML, a schema error, a missing prompt, a phase with no turns (or more
than the server allows), a `next` that names no node, a placeholder no duel fills,
phases that never end, or text that nests too deep or expands too far (`flow_bounds`).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from pipecat.flows import Flow, FlowConfig
from pipecat.flows.exceptions import FlowError
from pydantic import ValidationError

from local_duel.core.errors import LocalDuelError
from local_duel.core.settings import MAX_FLOW_BYTES
from local_duel.show.flow_bounds import check_json, check_yaml
from local_duel.show.phase import HANDLER, Phase, phase_of
from local_duel.show.placeholders import FLOW_PLACEHOLDERS, fill, placeholders

DEFAULT_FLOW = "flirt_roast"  # flows/flirt_roast.yaml: the duel the page and `render` start with


class FlowFileError(LocalDuelError, ValueError):
    """A flow file that can't drive a duel; the message names the file and the problem."""


@dataclass(frozen=True)
class DuelFlow:
    """A checked flow: its config, and its phases in the order they are played."""

    name: str
    config: FlowConfig
    phases: list[Phase]

    @property
    def rating(self) -> str | None:
        """The flow's content rating, if its first phase sets one."""
        return self.phases[0].rating

    def build(self, handlers) -> Flow:
        """Join the config to a duel's `take_turn` handler."""
        return Flow(self.config, handlers=handlers)

    def directions(self) -> dict[str, str]:
        """Each phase's stage direction as a line is measured against it: its task messages
        and its moves, with the placeholders left empty, since names, topic and personas
        belong to the whole duel and tell no phase apart."""
        directions = {}
        for phase in self.phases:
            texts = [m.content for m in self.config.nodes[phase.name].task_messages] + list(phase.moves)
            directions[phase.name] = " ".join(" ".join(fill(t, {}, missing="") for t in texts).split())
        return directions


def parse_flow(
    text: str, source: str, *, json_format: bool = False, base_dir: Path | None = None, max_turns: int | None = None
) -> DuelFlow:
    """Parse and check flow text; `base_dir` None rejects `!include` (for uploads), and
    `max_turns` bounds each phase's `turns`."""
    name = Path(source).stem
    try:
        if len(text.encode()) > MAX_FLOW_BYTES:
            raise ValueError(f"larger than {MAX_FLOW_BYTES // 1024} KiB")
        (check_json if json_format else check_yaml)(text)
        config = FlowConfig.from_json(text) if json_format else FlowConfig.from_yaml(text, base_dir=base_dir)
        _check(config)
        return DuelFlow(name, config, _phases(config, max_turns))
    except yaml.YAMLError as e:
        raise FlowFileError(f"{source}: not valid YAML: {_one_line(e)}") from None
    except json.JSONDecodeError as e:
        raise FlowFileError(f"{source}: not valid JSON: {e}") from None
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'top level'}: {err['msg']}" for err in e.errors()
        )
        raise FlowFileError(f"{source}: {problems}") from None
    except (ValueError, FlowError) as e:
        raise FlowFileError(f"{source}: {e}") from None


def load_flow(path: Path, max_turns: int | None = None, source: str | None = None) -> DuelFlow:
    """The flow in `path`; its errors name it as `source` (the server names the file, not
    where it lives on the server's disk), else by its path."""
    source = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise FlowFileError(f"{source}: can't read it: {e.strerror}") from None
    except UnicodeDecodeError:
        raise FlowFileError(f"{source}: not UTF-8 text") from None
    return parse_flow(text, source, json_format=path.suffix == ".json", base_dir=path.parent, max_turns=max_turns)


def _one_line(error: yaml.YAMLError) -> str:
    return " ".join(str(error).split())


def _check(config: FlowConfig) -> None:
    initial = config.nodes[config.initial_node]
    if not (initial.role_message or "").strip():
        raise ValueError(f"initial node '{config.initial_node}' needs a `role_message`: the scene both agents play")
    for name, node in config.nodes.items():
        if not node.task_messages or not all(m.content.strip() for m in node.task_messages):
            raise ValueError(f"node '{name}' needs `task_messages` with text: how the phase goes")
        if node.functions:
            raise ValueError(f"node '{name}' offers LLM functions; a duel's turns are driven by `{HANDLER}`, not tool calls")
        for text in [node.role_message or "", *(m.content for m in node.task_messages)]:
            for key in placeholders(text):
                if key not in FLOW_PLACEHOLDERS:
                    raise ValueError(
                        f"node '{name}' uses '{{{{ {key} }}}}'; a duel fills {', '.join(sorted(FLOW_PLACEHOLDERS))}"
                    )
    Flow(config, handlers={HANDLER: _take_turn})  # resolves every handler a node names, as a duel will


def _phases(config: FlowConfig, max_turns: int | None) -> list[Phase]:
    phases = {name: phase_of(name, node.post_actions, max_turns) for name, node in config.nodes.items()}
    order, current = [], config.initial_node
    while current is not None:
        if current in {p.name for p in order}:
            raise ValueError(f"phase '{current}' comes round again; the duel would never end")
        if current not in phases:
            raise ValueError(f"`next: {current}` names no node; nodes are {', '.join(phases)}")
        order.append(phases[current])
        current = phases[current].next
    for phase in order[1:]:
        if phase.rating:
            raise ValueError(f"node '{phase.name}': `rating` rates the whole flow, so it goes on the first node, '{order[0].name}'")
    return order


async def _take_turn(action: dict, flow_manager) -> None:
    """What `_check` resolves a flow's handlers against: a duel's `Turns.take_turn`
    plays the turn; a flow is only checked here."""
