"""The error a user's mistake raises: the CLI prints its one-line message and exits non-zero."""


class CnnlabError(Exception):
    """A user-facing error: bad input, an unknown name, an impossible shape."""
