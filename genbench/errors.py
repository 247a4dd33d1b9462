"""The error of a refused configuration value, and the checks that raise it.

A class checks its own values (a family in `__check_init__`, the run settings in
`__post_init__`) with `require` and `one_of`, so that a value is refused the same
way whether it came from a YAML file, the command line or Python. This module
imports nothing of genbench's, so that every module can use it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "one_of", "positive", "require"]


class ConfigError(ValueError):
    """A configuration value is not allowed. The message is one line naming the
    key as a user writes it, the value and what is allowed."""


def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise `ConfigError("<key>=<value!r> is not allowed: <allowed>")` unless `ok`."""
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


def one_of(key: str, value: Any, allowed: tuple) -> None:
    """Refuse `value` unless it is in `allowed` (shown as the tuple it is)."""
    require(value in allowed, key, value, str(allowed))


def positive(key: str, value: Any) -> None:
    """Refuse `value` unless it is > 0."""
    require(value > 0, key, value, "must be > 0")
