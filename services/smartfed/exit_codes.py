"""Every way a `smartfed` command ends, with the one line of help printed for it."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every way the command ends, with the one line of help printed for it."""

    OK = 0
    USAGE = 2
    BAD_INPUT = 3
    ROUND_FAILED = 4
    STORE_FAILED = 5
    INTERRUPTED = 130


EXIT_HELP = {
    ExitCode.OK: "done",
    ExitCode.USAGE: "the command line is wrong: see `smartfed COMMAND --help`",
    ExitCode.BAD_INPUT: "a setting or input file is invalid: the message above names it and the fix",
    ExitCode.ROUND_FAILED: "a federated round failed; the report of the rounds before it is in the output folder",
    ExitCode.STORE_FAILED: "the model store refused or failed: check --store and the SMARTFED_S3_* settings",
    ExitCode.INTERRUPTED: "interrupted; the model versions published so far are kept in the store",
}
