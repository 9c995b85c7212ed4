class DatabaseUnavailable(Exception):
    """The database URL is invalid or the server cannot be reached."""
