"""The errors a user can act on: each message names the file or option and the problem."""

from __future__ import annotations


class StyleSweepError(Exception):
    """A problem with the user's input; the CLI prints it as one line and exits with code 2."""


class ImageError(StyleSweepError):
    """An image that is missing, unreadable, corrupt or unusable."""


class ModelError(StyleSweepError):
    """An unknown model, or a weight file that is missing or does not fit the model."""


class OptionError(StyleSweepError):
    """An option value that is out of range or inconsistent with another."""


class FetchError(StyleSweepError):
    """A weight download that failed (network, HTTP, checksum)."""


class NumericalError(StyleSweepError):
    """The loss became NaN or infinite."""


class OutputError(StyleSweepError):
    """An output that cannot be written: a full disk, a read-only or missing folder."""


class ResourceError(StyleSweepError):
    """A run that does not fit the device's memory."""


class ConfigError(StyleSweepError):
    """A workflow config that cannot become a list of runs."""
