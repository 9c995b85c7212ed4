class ModelLoadError(Exception):
    """The model path does not exist, is not a causal LM, or cannot be loaded on this device."""


class RemoteError(Exception):
    """A model server failed a request for good (after retries), or lacks a feature a verb needs."""
