"""Reading a YAML file safely: UTF-8 only, bounded aliases, ``${VAR}`` expansion, and where each node stands.

:func:`read_utf8` says which file and line when the bytes are not UTF-8 (a Latin-1 file from a French Windows
editor); :class:`BoundedLoader` refuses alias cycles, alias bombs and runaway nesting while composing, so no
walk of the document can hang; :func:`line_of` and :func:`field_name` turn a validation error's location into
``line 14, audiences[vip].keys`` for the message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

MAX_ALIAS_NODES = 100_000

MAX_DEPTH = 100


def read_utf8(path: Path) -> str:
    """The text of ``path``, with newlines as ``read_text`` gives them.

    A file saved by a Latin-1 / Windows-1252 editor (common on French Windows machines) would otherwise
    surface as a UnicodeDecodeError traceback; this says which file, where, and how to fix it.  A UTF-8
    BOM is kept: YAML skips it and python-dotenv ignores it.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot be read ({exc.strerror or type(exc).__name__}); check its permissions."
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ConfigError(f"{path}: the file is UTF-16, not UTF-8; save it as UTF-8 and run again.") from None
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}, line {line} (byte offset {exc.start}): the file is not UTF-8 (byte 0x{raw[exc.start]:02X}, "
            "as Latin-1 or Windows-1252 editors write accents); save it as UTF-8 and run again."
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


class Refused(yaml.YAMLError):
    """A YAML structure refused while composing: ``problem`` at 1-based ``line``."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line, self.problem = line, problem


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses alias cycles, alias bombs and runaway nesting.

    PyYAML composes an alias as one more reference to the anchored node: ``&x [*x]`` becomes a cycle
    that every later walk (variable expansion, validation) follows forever, and ten levels of ten
    aliases become ten billion nodes for those walks.  So, while composing, each anchor's size is counted
    with its aliases expanded, every alias adds that size to a budget of :data:`MAX_ALIAS_NODES`, and an
    alias to an anchor whose node is still open is a cycle.  The document itself is never expanded.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._open: set[str] = set()  # anchors whose node is still being composed
        self._size: dict[str, int] = {}  # anchor -> nodes its node stands for, aliases expanded
        self._reached = 0  # nodes of the expanded document so far
        self._via_alias = 0  # of those, nodes reached through an alias
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        line = event.start_mark.line + 1
        anchor = event.anchor
        if isinstance(event, yaml.AliasEvent):
            if anchor in self._open:
                raise Refused(
                    line,
                    f"the alias *{anchor} is inside the very node its anchor &{anchor} names, so it would repeat "
                    "forever; point it at another anchor or write the value out",
                )
            node = super().compose_node(parent, index)  # PyYAML refuses an undefined alias here
            self._reached += self._size[anchor]
            self._via_alias += self._size[anchor]
            if self._via_alias > MAX_ALIAS_NODES:
                raise Refused(
                    line,
                    f"the aliases (*name) expand to more than {MAX_ALIAS_NODES:,} YAML nodes, far more than any "
                    "audiences.yaml needs; write the values out or nest fewer aliases",
                )
            return node
        if self._depth >= MAX_DEPTH:
            raise Refused(
                line,
                f"the YAML nests more than {MAX_DEPTH} levels of lists or mappings, far more than any "
                "audiences.yaml needs; check the brackets and the indentation there",
            )
        if anchor is not None:
            self._open.add(anchor)
        before = self._reached
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._reached += 1
        if anchor is not None:
            self._open.discard(anchor)
            self._size[anchor] = self._reached - before
        return node


def expand_vars(node: yaml.Node, env: dict[str, str], problems: list[str], where: str, done: set[int]) -> None:
    """Expand ``${VAR}`` / ``${VAR:-default}`` in every scalar, in place.

    A node shared through aliases is expanded once (``done``): a second pass would expand a ``${`` that
    came from the environment's value.
    """
    if id(node) in done:
        return
    done.add(id(node))
    if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) and "${" in node.value:

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(
                f"{where}, line {node.start_mark.line + 1}: ${{{name}}} is not set; "
                f"set {name} in the environment or in .env, or write ${{{name}:-default}}."
            )
            return ""

        node.value = _VAR.sub(sub, node.value)
    elif isinstance(node, yaml.MappingNode):
        for _key, v in node.value:
            expand_vars(v, env, problems, where, done)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            expand_vars(v, env, problems, where, done)


def line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest YAML node on the path ``loc``."""
    node, line = root, (root.start_mark.line + 1 if root else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next(((k, v) for k, v in node.value if k.value == part), None)
            if nxt is None:
                break
            line, node = nxt[0].start_mark.line + 1, nxt[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def field_name(root: yaml.Node | None, loc: tuple[Any, ...]) -> str:
    """``audiences[recent_buyers].keys.EMAIL`` rather than ``audiences.0.keys.EMAIL``."""
    out: list[str] = []
    node = root
    for part in loc:
        if isinstance(part, int) and isinstance(node, yaml.SequenceNode) and part < len(node.value):
            node = node.value[part]
            name = None
            if isinstance(node, yaml.MappingNode):
                name = next((v.value for k, v in node.value if k.value == "name"), None)
            out.append(f"[{name}]" if name else f"[{part}]")
            continue
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        else:
            node = None
        if isinstance(part, str) and part.startswith(("function-", "literal[")):
            continue
        out.append(f".{part}" if out else str(part))
    return "".join(out) or "(top level)"


def yaml_problem(exc: yaml.YAMLError, where: str) -> str:
    """PyYAML's error as one sentence; a composer error also says where its first half is (a duplicate anchor)."""
    mark = getattr(exc, "problem_mark", None)
    line = f", line {mark.line + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or "it is not valid YAML"
    if isinstance(exc, yaml.composer.ComposerError) and exc.context and exc.context_mark:
        problem = f"{exc.context} (line {exc.context_mark.line + 1}), {problem}"
    return f"{where}{line}: {problem}; fix the YAML syntax there."


def construct(root: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root)
    finally:
        loader.dispose()
