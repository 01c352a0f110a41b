"""Reading a YAML config safely: plain data only, within limits, with the line of every value.

PyYAML's ``SafeLoader`` still expands every alias before anything is checked (a 900-byte "billion
laughs" document grows to gigabytes), follows a recursive alias into a RecursionError, takes the
last of two duplicate keys without a word, and builds sets, timestamps and binary blobs. This module
walks the composed node graph itself and refuses, with a :class:`YAMLProblem` that names the line:

- a document over :data:`MAX_BYTES`, or text that is not UTF-8;
- any tag but the plain ones (strings, numbers, booleans, null, lists, mappings);
- a key that is not a plain scalar (``? [a, b]``), and a key given twice;
- an alias that contains itself, nesting deeper than :data:`MAX_DEPTH`, and more than
  :data:`MAX_NODES` values once aliases are expanded (counted while expanding, so a bomb is refused
  after a few hundred thousand steps, not after the memory is gone).

Merge keys (``<<: *base``, or a list of aliases) are supported: the merged keys come first and the
mapping's own keys override them, as YAML 1.1 defines.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "Located", "YAMLProblem", "load"]

MAX_BYTES = 1 << 20
MAX_NODES = 100_000
MAX_DEPTH = 64
PLAIN_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null")}
MAP_TAG, SEQ_TAG, MERGE_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"


class YAMLProblem(ValueError):
    """What is wrong with the document, and the line (1-based) where it is."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


@dataclass
class Located:
    """The document as plain Python data, and the line of every mapping key and list item by path."""

    data: object
    lines: dict[tuple, int]


def load(raw: bytes) -> Located:
    """Parse ``raw`` (a config file's bytes); raises :class:`YAMLProblem`."""
    if len(raw) > MAX_BYTES:
        raise YAMLProblem(1, f"the file is {len(raw):,} bytes; a config may be at most {MAX_BYTES:,}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise YAMLProblem(line, f"not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start}); "
                                "save the file as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise _syntax_problem(error) from None
    except RecursionError:
        raise YAMLProblem(1, "YAML syntax error: nested too deeply") from None
    except (ValueError, OverflowError) as error:  # e.g. an escape beyond Unicode: "\U00110000"
        raise YAMLProblem(1, f"YAML syntax error: {error}") from None
    located = Located(data={}, lines={})
    if node is not None:
        walker = _Walker(located.lines)
        try:
            located.data = walker.convert(node, (), ())
        finally:
            walker.loader.dispose()
    return located


def _syntax_problem(error: yaml.YAMLError) -> YAMLProblem:
    mark = getattr(error, "problem_mark", None)
    line = mark.line + 1 if mark else 1
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and context_mark and context_mark.line + 1 != line:
        problem += f" ({context} that starts on line {context_mark.line + 1})"
    return YAMLProblem(line, f"YAML syntax error: {problem}")


class _Walker:
    def __init__(self, lines: dict[tuple, int]):
        self.lines = lines
        self.nodes = 0
        self.loader = yaml.SafeLoader("")  # one constructor for every scalar

    def convert(self, node: yaml.Node, path: tuple, ancestors: tuple[int, ...]):
        line = node.start_mark.line + 1
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YAMLProblem(line, f"more than {MAX_NODES:,} values once aliases are expanded "
                                    "(an alias that multiplies itself?)")
        if id(node) in ancestors:
            raise YAMLProblem(line, "an alias that contains itself")
        if len(ancestors) >= MAX_DEPTH:
            raise YAMLProblem(line, f"nested deeper than {MAX_DEPTH} levels")
        self.lines.setdefault(path, line)
        inner = ancestors + (id(node),)
        if isinstance(node, yaml.MappingNode):
            if node.tag != MAP_TAG:
                raise self._tag_problem(node, path)
            return self._mapping(node, path, inner)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != SEQ_TAG:
                raise self._tag_problem(node, path)
            return [self.convert(item, path + (i,), inner) for i, item in enumerate(node.value)]
        return self.scalar(node, path)

    def scalar(self, node: yaml.ScalarNode, path: tuple):
        if node.tag not in PLAIN_TAGS:
            raise self._tag_problem(node, path)
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:
            kind = node.tag.rsplit(":", 1)[-1]
            where = f"{_label(path)}: " if path else ""
            raise YAMLProblem(node.start_mark.line + 1,
                              f"{where}{node.value!r} is not a valid {kind} ({str(error).splitlines()[0]})") from None

    def _mapping(self, node: yaml.MappingNode, path: tuple, ancestors: tuple[int, ...]) -> dict:
        merged: dict = {}
        own: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                for source in self._merge_sources(value_node):
                    for key, value in self.convert(source, path, ancestors).items():
                        merged.setdefault(key, value)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise YAMLProblem(key_node.start_mark.line + 1, "a key must be a plain name, not a list or mapping")
            key = self.scalar(key_node, path)
            if isinstance(key, (list, dict)) or key is None:
                raise YAMLProblem(key_node.start_mark.line + 1, f"a key must be a plain name, got {key!r}")
            if key in own:
                raise YAMLProblem(key_node.start_mark.line + 1,
                                  f"{_label(path + (key,))}: given twice (first on line {self.lines[path + (key,)]})")
            self.lines[path + (key,)] = key_node.start_mark.line + 1
            own[key] = self.convert(value_node, path + (key,), ancestors)
        return {**{k: v for k, v in merged.items() if k not in own}, **own}

    @staticmethod
    def _merge_sources(node: yaml.Node) -> list[yaml.Node]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise YAMLProblem(source.start_mark.line + 1, "a merge key (<<) takes a mapping or a list of mappings")
        return sources

    @staticmethod
    def _tag_problem(node: yaml.Node, path: tuple) -> YAMLProblem:
        where = f"{_label(path)}: " if path else ""
        return YAMLProblem(node.start_mark.line + 1, f"{where}the tag {node.tag!r} is not allowed; a config holds "
                                                     "plain values, lists and mappings")


def _label(path: tuple) -> str:
    label = ""
    for part in path:
        label += f"[{part}]" if isinstance(part, int) else (f".{part}" if label else str(part))
    return label
