"""The package's version, apart so that what records it need not import the package."""

__version__ = "0.1.0"
