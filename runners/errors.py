class ModelLoadError(Exception):
    """The model path does not exist, is not a causal LM, or cannot be loaded on this device."""


class RemoteError(Exception):
    """A model server failed a request for good (after retries), or lacks a feature a verb needs."""


class VerbUnsupported(RemoteError):
    """This backend cannot do a `Runner` verb at all (e.g. token ids behind an OpenAI-compatible server).

    A `RemoteError`, so the CLI prints it as one line: the message names the backend to use instead.
    """
