"""`canvas --help` lists the commands; each command answers its own `--help` (§9 rev 4)."""

from __future__ import annotations

import pytest

from canvas.cli import COMMANDS, main


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: canvas")
    for command in ("serve", "demo", "simexchange", "inspect"):
        assert f"\n    {command}" in out
    assert set(COMMANDS) == {"serve", "demo", "simexchange", "inspect"}


# An option each command's help must show: proof it is that command's own parser talking.
OWN_OPTION = {
    "serve": "--config PATH",
    "demo": "--speed",
    "simexchange": "--control-port",
    "inspect": "--watch",
}


@pytest.mark.parametrize("command", sorted(OWN_OPTION))
def test_each_command_has_its_own_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: canvas {command}")
    assert OWN_OPTION[command] in out


def test_serve_help_names_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "-h"])
    out = capsys.readouterr().out
    for option in ("--config", "--host", "--port", "--data-dir", "--log-level"):
        assert option in out


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["serv"])
    assert info.value.code == 2
    assert "invalid choice: 'serv'" in capsys.readouterr().err


def test_bad_option_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["serve", "--port", "eighty"])
    assert info.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_options_without_a_command_go_to_serve(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--port", "eighty"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("usage: canvas serve")
