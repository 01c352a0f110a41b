"""A parsed config with the line of every value, and the checks every field goes through: each
problem a :class:`~convbench.plan.config.ConfigError` that names the file, the line and the field."""

from __future__ import annotations

import difflib

from convbench.plan import yaml_loading
from convbench.plan.config import ConfigError


class ConfigDocument:
    """The parsed YAML (see :mod:`convbench.plan.yaml_loading`), with the line of every mapping key and
    list item, by path."""

    def __init__(self, source: str, text: str | bytes):
        self.source = source
        raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
        try:
            located = yaml_loading.load(raw)
        except yaml_loading.YAMLProblem as problem:
            raise ConfigError(f"{source}:{problem.line}: {problem.message}") from None
        self.data, self.lines = located.data, located.lines
        self.code = None  # the CodePolicy the config is read under (convbench.plan.code_entries)
        self.flags: dict[tuple, str] = {}  # the paths the command line set, with the flag that set each

    def error(self, path: tuple, message: str) -> ConfigError:
        flag = next((self.flags[path[:n]] for n in range(len(path), 0, -1) if path[:n] in self.flags), None)
        if flag:
            return ConfigError(f"{self.source}: {flag}: {message}")
        line = self.lines.get(path) or self.lines.get(path[:-1]) or 1
        where = path_label(path)
        return ConfigError(f"{self.source}:{line}: {where + ': ' if where else ''}{message}")


def path_label(path: tuple) -> str:
    label = ""
    for part in path:
        label += f"[{part}]" if isinstance(part, int) else (f".{part}" if label else str(part))
    return label


def suggest(name: str, valid) -> str:
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return f"; did you mean '{close[0]}'?" if close else f" (valid: {', '.join(map(str, valid))})"


def expect_int(doc: ConfigDocument, path: tuple, value, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise doc.error(path, f"must be an integer, got {value!r}")
    if value < minimum:
        raise doc.error(path, f"must be >= {minimum}, got {value}")
    return value


def expect_number(doc: ConfigDocument, path: tuple, value, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise doc.error(path, f"must be {what} from {low:g} to {high:g}, got {value!r}")
    return float(value)


def expect_choice(doc: ConfigDocument, path: tuple, value, choices) -> str:
    if value not in choices:
        raise doc.error(path, f"{value!r} is not valid; choose one of {', '.join(choices)}")
    return value


def check_keys(doc: ConfigDocument, path: tuple, mapping, allowed) -> None:
    if not isinstance(mapping, dict):
        raise doc.error(path, f"must be a mapping with keys from: {', '.join(allowed)}")
    for key in mapping:
        if key not in allowed:
            raise doc.error(path + (key,), f"unknown key '{key}'{suggest(key, allowed)}")
