"""Strict reading of one TOML table: typed keys with defaults, and leftovers (typos) reported."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError


class Table:
    """One TOML table read key by key, so leftovers (typos) can be reported."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{where} must be a table")
        self.data = dict(data)
        self.where = where

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = self.data.pop(key, default)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # NOTE: TOML booleans are Python ints; "count = true" must not read as 1.
        if value is not default and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
            raise ConfigError(f"{self.where}: {key} has the wrong type ({type(value).__name__})")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0) -> float:
        value = float(self.get(key, (int, float), default))
        if value < minimum:
            raise ConfigError(f"{self.where}: {key} must be at least {minimum}")
        return value

    def done(self) -> None:
        if self.data:
            raise ConfigError(f"{self.where}: unknown key(s) {', '.join(sorted(self.data))}")
