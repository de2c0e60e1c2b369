"""The one error of configuration: raised at start-up, so a bad deployment never takes an upload."""


class ConfigError(Exception):
    """Invalid configuration; `str()` is one line naming the variable, or the file and key."""
