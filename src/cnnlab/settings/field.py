"""One declaration per setting: its type (the annotation), default, allowed values or range, and help text.

`setting(...)` is a dataclass field that carries the rest; `check_field` enforces it on any value, from the command
line or from Python, with one line that names the setting and says what is allowed.
"""

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnnlab.errors import SettingError


@dataclass(frozen=True)
class Rule:
    """What a setting accepts beyond its type: a list of choices, bounds (inclusive or strict), a custom check, and
    for a text whether spaces alone are a value."""

    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None
    check: Callable[[Any], None] | None = None
    spaces: bool = False  # a text of spaces only is a value (a space between labels), not an empty one

    def describe(self) -> str:
        """The allowed values in a few words, for the help text."""
        if self.choices is not None:
            return ", ".join(map(str, self.choices))
        low = f">= {number(self.min)}" if self.min is not None else f"> {number(self.above)}" if self.above is not None else ""
        high = f"<= {number(self.max)}" if self.max is not None else f"< {number(self.below)}" if self.below is not None else ""
        return ", ".join(part for part in (low, high) if part)


def number(value: float) -> str:
    """A bound as people write it: 1, 0.5, 1e-06, 100,000."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def setting(default: Any, help: str, **rule: Any) -> Any:
    """A declared setting: the default, one sentence of help, and the Rule's keywords (choices, min, max, above,
    below, check)."""
    return dataclasses.field(default=default, metadata={"help": help, "rule": Rule(**rule)})


def value_type(annotation: Any) -> tuple[type, bool]:
    """(the type, whether None is allowed) of an annotation such as `int`, `float | None` or `Optional[str]`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return members[0], len(members) < len(typing.get_args(annotation))
    return annotation, False


def _type_name(kind: type) -> str:
    """How a type is named in an error: a number, a whole number, true or false, a text."""
    return {float: "a number", int: "a whole number", bool: "true or false", str: "a text"}.get(kind, kind.__name__)


def check_field(name: str, annotation: Any, rule: Rule, value: Any) -> Any:
    """The value as the setting holds it (a whole number given for a number becomes a float), or a SettingError."""
    kind, optional = value_type(annotation)
    if value is None:
        if optional:
            return None
        raise SettingError(name, "needs a value")
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind:
        raise SettingError(name, f"must be {_type_name(kind)}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise SettingError(name, f"must be a finite number, got {value!r}")
    if kind is str and not (value.strip() or (value and rule.spaces)):
        raise SettingError(name, "must not be empty")
    if rule.choices is not None and value not in rule.choices:
        raise SettingError(name, f"{value!r} is not one of: {', '.join(map(str, rule.choices))}")
    bounds = ((rule.min, lambda v, b: v >= b, "at least"), (rule.above, lambda v, b: v > b, "above"),
              (rule.max, lambda v, b: v <= b, "at most"), (rule.below, lambda v, b: v < b, "below"))
    for bound, holds, words in bounds:
        if bound is not None and not holds(value, bound):
            raise SettingError(name, f"must be {words} {number(bound)}, got {value!r}")
    if rule.check is not None:
        rule.check(value)
    return value


def declared(cls: type) -> list[tuple[dataclasses.Field, Any, Rule]]:
    """Each declared field of a settings section with its resolved annotation and rule."""
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name], f.metadata["rule"]) for f in dataclasses.fields(cls) if "rule" in f.metadata]


def check_section(section: Any) -> None:
    """Check (and normalise in place) every declared field of a frozen settings section."""
    for f, annotation, rule in declared(type(section)):
        object.__setattr__(section, f.name, check_field(f.name, annotation, rule, getattr(section, f.name)))
