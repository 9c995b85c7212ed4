class DatabaseUnavailable(Exception):
    """The database URL is invalid, the server cannot be reached, or it refuses writes."""


class SchemaTooNew(DatabaseUnavailable, RuntimeError):
    """The database was migrated by a newer leitai than this one (its schema revision is unknown here)."""
