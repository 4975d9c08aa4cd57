"""The library's conventions, checked over its source: it never prints, never names a command-line flag, and
every name it puts in backticks in a message is one the command line can show as a flag."""

import ast
import re
from pathlib import Path

import cnnlab
from cnnlab.cli.app import app
from cnnlab.settings import Settings

PACKAGE = Path(cnnlab.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def library_modules() -> list[Path]:
    """Every module of the package outside cli/ (which is where printing and flags belong)."""
    return [path for path in sorted(PACKAGE.rglob("*.py")) if "cli" not in path.relative_to(PACKAGE).parts]


def test_no_library_module_prints_or_draws_on_a_console():
    offenders = []
    for path in library_modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.name}:{node.lineno} print()")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                offenders += [f"{path.name}:{node.lineno} imports {n}" for n in names if n.split(".")[0] == "rich"]
    assert not offenders


def test_no_library_module_names_a_command_line_flag():
    offenders = [f"{path.name}: {match}" for path in library_modules()
                 for match in FLAG.findall(path.read_text())]
    assert not offenders


def option_names() -> set[str]:
    """Every option of every verb, as its Python name (the flag without dashes, underscores for hyphens)."""
    import typer.main

    command = typer.main.get_command(app)
    names = set()

    def walk(group) -> None:
        for sub in getattr(group, "commands", {}).values():
            walk(sub)
            for param in sub.params:
                names.update(opt.lstrip("-").replace("-", "_") for opt in param.opts if opt.startswith("--"))
    walk(command)
    return names


def test_every_backticked_name_in_a_message_is_an_option_of_the_command_line():
    known, unknown = option_names() | set(Settings.names()), set()
    for path in library_modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                text = ast.unparse(node.exc)
                unknown |= {f"{path.name}: {name}" for name in re.findall(r"`([a-z][a-z0-9_]*)`", text)
                            if name not in known}
                if isinstance(node.exc, ast.Call) and getattr(node.exc.func, "id", "") == "SettingError":
                    first = node.exc.args[0] if node.exc.args else None
                    if isinstance(first, ast.Constant) and first.value not in known:
                        unknown.add(f"{path.name}: SettingError({first.value!r})")
    assert not unknown
