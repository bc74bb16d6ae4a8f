"""presend: forecast the SMTP reply each address of an email list would get."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("presend")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
