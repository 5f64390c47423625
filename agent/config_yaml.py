"""Read targets.yaml text into plain data under fixed budgets, so no file can exhaust the agent.

PyYAML alone follows an alias bomb ("billion laughs": each anchor a list of aliases to the one
before) into gigabytes once anything walks the result, recurses until RecursionError on a
1,000-deep document, builds self-containing lists from `&a [*a]`, and raises ValueError on an
integer of more than 4300 digits. The loader here composes the node tree while counting:
- every node at its expanded size (an alias counts as the whole collection it names), at most
  MAX_NODES, so a bomb stops after a few hundred events whatever it would expand to;
- nesting, at most MAX_DEPTH (config_values.MAX_DEPTH) levels;
- an alias inside the collection it names is refused;
- numbers YAML 1.1 reads unlike what they look (`1:30` is 90, `010` is 8) and integers written
  with more than MAX_NUMBER_CHARACTERS characters are refused.
Each refusal names the key path and line. Duplicate keys (PyYAML silently keeps the last) are
recorded the same way. The caller caps the text at MAX_BYTES before calling.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from agent.config_values import MAX_DEPTH, key_path
from agent.units import short_repr

MAX_BYTES = 256 * 1024  # the repository's targets.yaml is 6 KiB
MAX_NODES = 25_000  # the repository's targets.yaml has 378
MAX_NUMBER_CHARACTERS = 40
_YAML11_SURPRISE = re.compile(r"^[-+]?0[0-7_]+$|:")  # octal (010 = 8), base 60 (1:30 = 90)
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlRefused(Exception):
    """The text is YAML but nothing in it can be honoured as a config; carries one problem per cause."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def load_yaml(text: str) -> tuple[Any, list[str]]:
    """Given targets.yaml text, return (document, duplicate-key problems). Raise YamlRefused for
    a document past the budgets, yaml.YAMLError for one that is not YAML."""
    duplicates: list[str] = []
    loader = _Loader(text, duplicates)
    try:
        return loader.get_single_data(), duplicates
    finally:
        loader.dispose()


def control_character_problems(text: str) -> list[str]:
    """Given text, return one problem (line, column, key path when it can be found) per character
    YAML refuses outright (NUL, ESC, other controls), at most five."""
    found = list(re.finditer(yaml.reader.Reader.NON_PRINTABLE, text))[:5]
    if not found:
        return []
    root = None
    try:
        # The same text with each refused character made printable locates them in the tree.
        cleaned = yaml.reader.Reader.NON_PRINTABLE.sub("\ufffd", text)
        root = _Loader(cleaned, []).get_single_node()
    except (yaml.YAMLError, YamlRefused):
        pass
    problems = []
    for match in found:
        position = match.start()
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        where = f"{key_path(_path_at(root, position))}: " if root is not None else ""
        problems.append(f"{where}line {line}, column {column}: control character U+{ord(match.group()):04X} "
                        "is not allowed in targets.yaml (YAML refuses it); remove it")
    return problems


def _path_at(node: yaml.Node, position: int) -> list:
    """Return the key path of the deepest node of the tree that spans position in the text."""
    parts: list = []
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        if isinstance(node, yaml.MappingNode):
            children = [(_key_text(key), child) for key, value in node.value for child in (key, value)]
        else:
            children = list(enumerate(node.value))
        for part, child in children:
            if child.start_mark.index <= position < max(child.end_mark.index, child.start_mark.index + 1):
                parts.append(part)
                node = child
                break
        else:
            break
    return parts


def _key_text(key: yaml.Node) -> str:
    return key.value if isinstance(key, yaml.ScalarNode) else "?"


class _Loader(yaml.SafeLoader):
    """A SafeLoader that composes under the budgets and records duplicate keys."""

    def __init__(self, text: str, duplicates: list[str]):
        super().__init__(text)
        self.duplicates = duplicates
        self.expanded = 0  # nodes so far, each alias counted at the size of what it names
        self.sizes: dict[int, int] = {}  # id(node) → expanded size, once its composition is complete
        self.where: list = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if parent is not None:
            self.where.append(_part(parent, index))
        try:
            return self._compose_counted(parent, index)
        finally:
            if parent is not None:
                self.where.pop()

    def _compose_counted(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            named = self.anchors.get(event.anchor)
            if named is not None:  # an unknown alias: PyYAML's own error says so
                if id(named) not in self.sizes:
                    self._refuse(event, f"alias *{event.anchor} is used inside the collection it names "
                                        "(a loop); write the values out")
                self._count(self.sizes[id(named)], event)
            return super().compose_node(parent, index)
        if isinstance(event, yaml.CollectionStartEvent) and len(self.where) >= MAX_DEPTH:
            self._refuse(event, f"nested deeper than {MAX_DEPTH} levels; targets.yaml is never that deep, "
                                "check the brackets and indentation")
        before = self.expanded
        self._count(1, event)
        node = super().compose_node(parent, index)
        self.sizes[id(node)] = self.expanded - before
        if isinstance(node, yaml.ScalarNode) and node.tag in (_INT_TAG, _FLOAT_TAG):
            self._check_number(node)
        return node

    def _count(self, nodes: int, event: yaml.Event) -> None:
        self.expanded += nodes
        if self.expanded > MAX_NODES:
            self._refuse(event, f"the document holds, or its aliases expand to, more than {MAX_NODES} values; "
                                "targets.yaml is never that large (an alias bomb?): write aliased values out")

    def _check_number(self, node: yaml.ScalarNode) -> None:
        text = node.value
        if node.tag == _INT_TAG and len(text) > MAX_NUMBER_CHARACTERS:
            self._refuse(node, f"a number written with {len(text)} characters is too large to honour; "
                               "no setting takes a number beyond 2**63")
        if _YAML11_SURPRISE.search(text):
            value = self.construct_object(node)
            text = text if len(text) <= MAX_NUMBER_CHARACTERS else short_repr(text)
            self._refuse(node, f"YAML reads {text} as the number {short_repr(value)} (a base-60 or octal "
                               f"number); write {short_repr(value)} if that is meant, or quote it")

    def _refuse(self, where: yaml.Event | yaml.Node, problem: str) -> None:
        shown = key_path(self.where[:12]) + ("…" if len(self.where) > 12 else "")
        raise YamlRefused([f"{shown}: line {where.start_mark.line + 1}: {problem}"])

    def construct_document(self, node: yaml.Node) -> Any:
        # Duplicates are found on the node tree, where the key path of each mapping is known.
        _record_duplicates(node, [], self.duplicates, set())
        return super().construct_document(node)


def _part(parent: yaml.Node, index: Any) -> Any:
    """The key path element of a child: its key's text, its position, or (key) while a key is read."""
    if isinstance(parent, yaml.SequenceNode):
        return index
    return "(key)" if index is None else _key_text(index)


def _record_duplicates(node: yaml.Node, where: list, duplicates: list[str], seen_nodes: set[int]) -> None:
    """Walk a composed YAML node tree; record each duplicate mapping key with its key path and lines."""
    if id(node) in seen_nodes:  # an alias: already walked
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            identity = (key_node.tag, key_node.value)
            line = key_node.start_mark.line + 1
            if identity in first_line:
                duplicates.append(f"{key_path([*where, key_node.value])}: duplicate key {short_repr(key_node.value)} "
                                  f"on line {line} (first defined on line {first_line[identity]}); names must be "
                                  "unique: rename or merge the two entries")
            else:
                first_line[identity] = line
            _record_duplicates(value_node, [*where, key_node.value], duplicates, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_duplicates(item, [*where, index], duplicates, seen_nodes)
