"""The one base of every error the scrubber raises on purpose, so that a caller (the service, the command
line, a batch worker) can tell "the input or the data is wrong, and here is why" from a bug."""


class ScrubberError(Exception):
    """An error the scrubber raises on purpose; its message says what was wrong, for a person to read."""
