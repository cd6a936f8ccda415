"""The package's version (one place; ``dlscratch.__version__`` and the CLI read it here)."""

__version__ = "0.1.0"
