"""What a flow file may cost to read: how deep it nests, and how far its YAML aliases
expand it.

A YAML alias is a reference, so a one-kilobyte file of nested anchors and aliases can
stand for gigabytes once anything copies it (validation, JSON for the page), and a few
thousand nested brackets exhaust Python's recursion limit in the parser. Both are
measured here on the raw text, before the file is built into anything: PyYAML's event
parser and the JSON scan below keep their own stacks, so neither can recurse too deep.
"""

import itertools
import re
from dataclasses import dataclass

import yaml

from local_duel.core.settings import MAX_FLOW_BYTES

MAX_DEPTH = 32  # the bundled flow nests 5 deep
MAX_EXPANDED = MAX_FLOW_BYTES  # characters, aliases expanded: no more than a flow file may hold

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


class FlowTooCostly(ValueError):
    """The text nests too deep or its aliases expand too far; the message says where."""


def check_json(text: str) -> None:
    """Refuse JSON that nests deeper than `MAX_DEPTH`."""
    brackets = _JSON_STRING.sub("", text)
    depths = itertools.accumulate(1 if c in "[{" else -1 for c in brackets if c in "[]{}")
    if max(depths, default=0) > MAX_DEPTH:
        raise FlowTooCostly(f"nests deeper than {MAX_DEPTH} levels")


@dataclass
class _Node:
    size: int  # characters it expands to
    height: int  # levels it nests, itself included


def check_yaml(text: str) -> None:
    """Refuse YAML that nests deeper than `MAX_DEPTH`, or whose aliases expand it past
    `MAX_EXPANDED` characters. Malformed YAML is left for the real parser to name."""
    anchors: dict[str, _Node] = {}
    open_: list[tuple[_Node, str | None]] = []  # the collections being read, outermost first
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            line = event.start_mark.line + 1
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(open_) >= MAX_DEPTH:
                    raise FlowTooCostly(f"nests deeper than {MAX_DEPTH} levels (line {line})")
                open_.append((_Node(1, 1), event.anchor))
                continue
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                node, anchor = open_.pop()
            elif isinstance(event, yaml.ScalarEvent):
                node, anchor = _Node(len(event.value) + 1, 1), event.anchor
            elif isinstance(event, yaml.AliasEvent):
                node, anchor = anchors.get(event.anchor, _Node(1, 1)), None
            else:  # stream and document boundaries
                continue
            if anchor is not None:
                anchors[anchor] = node
            if open_:
                parent = open_[-1][0]
                parent.size += node.size
                parent.height = max(parent.height, node.height + 1)
                if parent.size > MAX_EXPANDED:
                    raise FlowTooCostly(
                        f"its anchors and aliases expand it past {MAX_EXPANDED // 1024} KiB (line {line}); "
                        "write it out with fewer aliases"
                    )
                if len(open_) - 1 + parent.height > MAX_DEPTH:
                    raise FlowTooCostly(f"nests deeper than {MAX_DEPTH} levels through an alias (line {line})")
    except yaml.YAMLError:
        return
