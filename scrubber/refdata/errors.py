"""Why reference data could not be imported."""
from __future__ import annotations

from pathlib import Path

from scrubber.errors import ScrubberError


class DataImportError(ScrubberError):
    """An import that was refused; nothing was loaded."""


class ImportFileError(DataImportError):
    """A file that cannot be imported, with the line (None: the whole file) and the reason."""

    def __init__(self, path: str | Path, line: int | None, reason: str):
        self.path = str(path)
        self.line = line
        self.reason = reason
        super().__init__(f"{self.path}{'' if line is None else f' line {line}'}: {reason}")
