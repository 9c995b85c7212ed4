"""User-facing errors: the CLI prints them as one line and exits 2 (never a traceback)."""


class UserError(Exception):
    """A mistake in the user's input (bad path, malformed file, unknown name, unreachable DB)."""
