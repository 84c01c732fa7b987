"""YAML loading that remembers where each key was written, and `${ENV}` expansion.

Every config error must name the file, the key path and the line; PyYAML's node marks
give the line, so we compose the node tree once and build plain data plus a line index.

Data contracts are read with YAML 1.2 core-schema scalars (``core_schema=True``): the
ODCS JSON schema expects JSON values, and PyYAML's YAML 1.1 rules would turn an unquoted
``2022-10-03`` into a date, ``no`` into false and ``012`` into 10.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dativo_workers.errors import ConfigError

KeyPath = tuple[str | int, ...]
_ENV_PATTERN = re.compile(r"\$\{(?!secret:)([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class LoadedYaml:
    """Plain data from a YAML file plus the line of every key and list item."""

    def __init__(self, path: Path, data: Any, lines: dict[KeyPath, int]) -> None:
        self.path = path
        self.data = data
        self.lines = lines

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """Line of the deepest key in ``loc`` that the file actually contains."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None

    def validation_error(self, exc: ValidationError, *, prefix: KeyPath = ()) -> ConfigError:
        """Turn a pydantic error into one that names file, key path and line."""
        problems = []
        for err in exc.errors():
            loc = prefix + tuple(p for p in err["loc"] if not _is_union_tag(p))
            key = format_key_path(loc) or "(top level)"
            line = self.line_of(loc)
            where = f"{self.path}:{line}" if line else str(self.path)
            problems.append(f"{where}: {key}: {_message(err)}")
        return ConfigError(f"invalid configuration in {self.path}", file=str(self.path), problems=problems)


def _is_union_tag(part: str | int) -> bool:
    # pydantic adds the member type's name to the location of union errors ("str", "function-after[...]")
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool", "list", "dict"})


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see docs/configuration.md)"
    if err["type"] == "missing":
        return "required key is missing"
    return str(err["msg"])


def format_key_path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# libyaml's parser when PyYAML has it: contracts run to thousands of lines
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CoreSchemaLoader(_SafeBase):  # type: ignore[valid-type,misc]
    """PyYAML's safe loader with the YAML 1.2 core schema's implicit types (JSON's values)."""

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text)  # "012" is twelve in YAML 1.2, not an octal ten


_CORE_RESOLVERS = [
    # (tag, pattern, possible first characters; "" is the empty scalar)
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    ("tag:yaml.org,2002:merge", r"^<<$", ["<"]),  # kept only to refuse merge keys clearly
]
for _tag, _pattern, _first in _CORE_RESOLVERS:  # int before float: "12" is an int
    CoreSchemaLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)
CoreSchemaLoader.add_constructor("tag:yaml.org,2002:int", CoreSchemaLoader.construct_yaml_int)


def load_yaml(
    path: Path, *, expand_env: bool = True, core_schema: bool = False, literal_keys: frozenset[str] = frozenset()
) -> LoadedYaml:
    """Read a YAML file; errors name the file and line. `${VAR}` is expanded when asked.

    ``core_schema``: YAML 1.2 / JSON scalars (no dates, no yes/no booleans, no octal 012).
    ``literal_keys``: whatever is under a key of these names is kept as written (a contract's
    `quality` SQL holds ODCS's own `${table}` and `${column}` placeholders, not variables).
    """
    loader_class = CoreSchemaLoader if core_schema else yaml.SafeLoader
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read file: {exc}") from None
    try:
        node = yaml.compose(text, Loader=loader_class)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}", file=str(path)) from None
    lines: dict[KeyPath, int] = {}
    constructor = loader_class("")  # one for every scalar of the file: making one costs more than a scalar
    try:
        data = _construct(node, (), lines, path, constructor) if node is not None else {}
    finally:
        constructor.dispose()
    if expand_env:
        data = _expand(data, (), path, lines, literal_keys)
    return LoadedYaml(path, data, lines)


def _construct(node: yaml.Node, loc: KeyPath, lines: dict[KeyPath, int], path: Path, constructor: Any) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError(f"{path}:{key_node.start_mark.line + 1}: YAML merge keys are not supported")
            key = str(key_node.value)
            if key in out:
                raise ConfigError(
                    f"{path}:{key_node.start_mark.line + 1}: duplicate key {format_key_path((*loc, key))}"
                )
            lines[(*loc, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*loc, key), lines, path, constructor)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            items.append(_construct(item, (*loc, i), lines, path, constructor))
        return items
    return constructor.construct_object(node, deep=True)


def _expand(
    value: Any, loc: KeyPath, path: Path, lines: dict[KeyPath, int], literal: frozenset[str] = frozenset()
) -> Any:
    if isinstance(value, dict):
        return {k: v if k in literal else _expand(v, (*loc, k), path, lines, literal) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*loc, i), path, lines, literal) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        return expand_env_vars(value, where=lambda: _where(path, loc, lines))
    return value


def _where(path: Path, loc: KeyPath, lines: dict[KeyPath, int]) -> str:
    line = lines.get(loc)
    return f"{path}:{line}: {format_key_path(loc)}" if line else f"{path}: {format_key_path(loc)}"


def expand_env_vars(text: str, where: Any = None) -> str:
    """Expand `${VAR}` and `${VAR:-default}`; `${secret:...}` references are left alone."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        place = where() if callable(where) else (where or "configuration")
        raise ConfigError(f"{place}: environment variable {name} is not set (referenced as ${{{name}}})")

    return _ENV_PATTERN.sub(replace, text)
