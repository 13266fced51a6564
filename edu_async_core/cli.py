"""The old name of :mod:`edu_async_core.cli_support`, kept so that existing imports work.

This module never held a command-line tool, only the helpers both tools share; they live in
``edu_async_core.cli_support`` now. Import them from there: this alias may go in a later
release.
"""

from edu_async_core.cli_support import (
    CommandError,
    ExitCode,
    Output,
    ProgressDisplay,
    add_output_options,
    error_record,
    exit_code_for,
    fraction,
    non_negative_float,
    non_negative_int,
    port,
    positive_float,
    positive_int,
    read_secret,
    render_progress,
    run,
    serve_until_stopped,
    wait_for_stop,
    write_env_file,
    write_secret_file,
)

__all__ = [
    "CommandError",
    "ExitCode",
    "Output",
    "ProgressDisplay",
    "add_output_options",
    "error_record",
    "exit_code_for",
    "fraction",
    "non_negative_float",
    "non_negative_int",
    "port",
    "positive_float",
    "positive_int",
    "read_secret",
    "render_progress",
    "run",
    "serve_until_stopped",
    "wait_for_stop",
    "write_env_file",
    "write_secret_file",
]
