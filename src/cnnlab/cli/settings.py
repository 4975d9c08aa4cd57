"""The command line's training options, generated from the settings' declarations: one option per setting, its help
(with the allowed values and the default) in its section's panel. Validation stays with the declarations, so a bad
value is the same one-line error here as in Python."""

import inspect
from collections.abc import Callable, Iterable
from typing import Any, Optional

import typer

from cnnlab.cli.console import flag
from cnnlab.errors import spell
from cnnlab.settings import SECTIONS
from cnnlab.settings.field import declared, value_type


def help_text(help: str, rule: Any, default: Any) -> str:
    """A setting's help with what it allows and its default."""
    help, allowed = spell(help, flag), rule.describe()
    shown = {True: "on", False: "off"}.get(default, default) if isinstance(default, bool) else default
    parts = [help, f"Allowed: {allowed}." if allowed else "", "" if default is None else f"Default: {shown}."]
    return " ".join(part for part in parts if part)


def options(exclude: Iterable[str] = (), panel_of: dict[str, str] | None = None) -> list[inspect.Parameter]:
    """One Typer option per declared setting, except `exclude`; each defaults to None (not given)."""
    params = []
    for kind in SECTIONS.values():
        for f, annotation, rule in declared(kind):
            if f.name in exclude:
                continue
            value, _ = value_type(annotation)
            option = typer.Option(None, help=help_text(f.metadata["help"], rule, f.default),
                                  rich_help_panel=(panel_of or {}).get(f.name, kind.title),
                                  show_default=False)
            params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                            annotation=Optional[value]))
    return params


def setting_option(name: str) -> Any:
    """The option of one setting, with the setting's own default (for a verb that takes it alone)."""
    for kind in SECTIONS.values():
        for f, _, rule in declared(kind):
            if f.name == name:
                return typer.Option(f.default, help=help_text(f.metadata["help"], rule, None))
    raise KeyError(name)


def with_settings(exclude: Iterable[str] = ()) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a verb that takes `**given` an option for every setting (except `exclude`) before its own options."""
    exclude = set(exclude)

    def decorate(verb: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(verb)
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values()
               if p.kind is not inspect.Parameter.VAR_KEYWORD]
        verb.__signature__ = signature.replace(parameters=[*options(exclude | {p.name for p in own}), *own])
        return verb

    return decorate
