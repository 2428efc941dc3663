"""Errors a user can fix. The CLI prints their message as one line and exits non-zero, without a traceback."""


class UserError(Exception):
    """Bad input from the user: the message says what is wrong and what to do."""
