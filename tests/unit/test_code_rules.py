"""Rules the whole tree keeps: exit codes with help, import layers, lint."""

import subprocess
import sys
from pathlib import Path

from smartfed.exit_codes import EXIT_HELP, ExitCode

REPO = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


def run_tool(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / command[0]), *command[1:]], capture_output=True, text=True, check=False, cwd=REPO)


def test_every_exit_code_has_one_line_of_help():
    assert set(EXIT_HELP) == set(ExitCode)
    assert all(help_line and "\n" not in help_line for help_line in EXIT_HELP.values())


def test_import_layers_hold():
    completed = run_tool("lint-imports")
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_ruff_finds_nothing():
    completed = run_tool("ruff", "check", "services", "tests")
    assert completed.returncode == 0, completed.stdout + completed.stderr
