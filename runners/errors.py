class ModelLoadError(Exception):
    """The model path does not exist, is not a causal LM, or cannot be loaded on this device."""
