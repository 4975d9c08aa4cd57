"""The errors a user's mistake raises: the CLI prints the one-line message and exits non-zero.

A message names settings and parameters in backticks (`lr`), the way they are spelled in Python; the command line
spells the same names as its flags, so one message serves a script, a notebook and the CLI.
"""

import re
from collections.abc import Callable

NAME = re.compile(r"`([a-z][a-z0-9_]*)`")


def spell(text: str, name: Callable[[str], str]) -> str:
    """`text` with each backticked name spelled by `name` (e.g. as a command-line flag)."""
    return NAME.sub(lambda match: name(match.group(1)), text)


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): enough to say what went wrong."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class CnnlabError(Exception):
    """A user-facing error: bad input, an unknown name, an impossible shape."""

    def render(self, name: Callable[[str], str]) -> str:
        """The message with each backticked name spelled by `name` (e.g. as a command-line flag)."""
        return spell(str(self), name)


class SettingError(CnnlabError):
    """A setting (or a parameter of a library call) whose value is not allowed; `setting` names it."""

    def __init__(self, setting: str, problem: str) -> None:
        """`problem` continues the sentence that starts with the setting's name: "`lr` must be positive"."""
        super().__init__(f"`{setting}` {problem}")
        self.setting = setting
