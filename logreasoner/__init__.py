"""LogReasoner: coarse-to-fine log reasoning with language models."""

__version__ = "0.1.0"
