"""The exception dlnsim raises."""

from __future__ import annotations


class DLNSimError(Exception):
    """An error reported by the dlnsim binary, or by the package about its inputs and outputs.

    Attributes:
        message: dlnsim's message (the full text).
        kind: dlnsim's kind of error ("invalid_configuration", "bad_file", …), or a package-side kind
            ("binary_not_found", "not_an_output", "incomplete_output", …); None when unknown.
        key: the configuration key path the error is about ("grid.alpha"), or None.
        issues: every problem found, as a list of {"key": …, "message": …} (a configuration can have several).
        returncode: the binary's exit status (None for package-side errors).
        stderr: the binary's standard error, for diagnosis.
    """

    def __init__(self, message, *, kind=None, key=None, issues=None, returncode=None, stderr=None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.key = key
        self.issues = list(issues or [])
        self.returncode = returncode
        self.stderr = stderr

    def __str__(self):
        return self.message
