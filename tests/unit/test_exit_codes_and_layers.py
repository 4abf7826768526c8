import shutil
import subprocess
from pathlib import Path

from smartfed.exit_codes import EXIT_HELP, ExitCode


def test_every_exit_code_has_one_line_of_help():
    assert set(EXIT_HELP) == set(ExitCode)
    assert all(help_line and "\n" not in help_line for help_line in EXIT_HELP.values())


def test_import_layers_hold():
    lint = Path(shutil.which("lint-imports") or Path(__file__).parents[2] / ".venv/bin/lint-imports")
    completed = subprocess.run([str(lint)], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert completed.returncode == 0, completed.stdout + completed.stderr
