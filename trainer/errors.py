"""Errors a user can fix. The CLI prints them as one sentence, without a traceback."""


class UserError(Exception):
    """Raise with a message that says what went wrong and what to do."""
