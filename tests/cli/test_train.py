"""`cnnlab train`'s options come from the settings' declarations: one per setting, in its section's panel."""

import re

from cnnlab.settings import SECTIONS
from cnnlab.settings.field import declared


def test_help_shows_every_setting_in_its_section(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli("train", "--help")
    assert code == 0
    panels = {m.start(): m.group(1) for m in re.finditer(r"╭─ (\w+) ─", out)}
    for kind in SECTIONS.values():
        assert kind.title in panels.values()
        start = next(pos for pos, title in panels.items() if title == kind.title)
        end = min([pos for pos in panels if pos > start], default=len(out))
        for field, _, _ in declared(kind):
            assert f"--{field.name.replace('_', '-')} " in out[start:end], (kind.title, field.name)


def test_a_bad_value_is_one_line_naming_the_flag_and_what_is_allowed(cli):
    code, _, err = cli("train", "--lr", "nan")
    assert code == 2 and err.strip() == "error: --lr must be a finite number, got nan"
    code, _, err = cli("train", "--momentum", "-1")
    assert code == 2 and err.strip() == "error: --momentum must be at least 0, got -1.0"
    code, _, err = cli("train", "--muon-lr", "0.1")
    assert code == 2 and err.strip() == "error: --muon-lr applies to --optimizer muon only (it is adam)"
