"""presend: forecast the SMTP reply each address of an email list would get."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("presend")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

from pipeline.api import CleanResult, acheck, check, clean

__all__ = ["CleanResult", "__version__", "acheck", "check", "clean"]
