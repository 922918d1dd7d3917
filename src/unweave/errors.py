"""The one exception type that reaches users as a single clear sentence."""


class UnweaveError(Exception):
    """A user-facing error: the message names the file, field or shape and what was expected.

    The command line prints the message alone (no traceback) and exits with status 2.
    """
