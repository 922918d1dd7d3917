"""The one exception type that reaches users as a single clear sentence."""


class UnweaveError(Exception):
    """A user-facing error: the message names the file, field or shape and what was expected.

    The command line prints the message alone (no traceback) and exits with status 2.
    """


class UnweaveWarning(UserWarning):
    """Something the user should know that stops nothing (a damaged file set aside, say).

    The command line prints it as one ``warning:`` line on stderr.
    """


def check_known_keys(section: str, given, known: set[str]) -> None:
    """Raise UnweaveError naming the first key of ``given`` not in ``known`` (and the closest)."""
    import difflib

    for key in given:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" Did you mean '{section}.{close[0]}'?" if close else ""
            expected = f"one of: {', '.join(sorted(known))}" if known else "none"
            raise UnweaveError(f"Unknown setting '{section}.{key}'; expected {expected}.{hint}")
