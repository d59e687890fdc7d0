"""The level scheme: configuration, because another city may have other levels."""

from __future__ import annotations

from dataclasses import dataclass

from domain.codes import DEFAULT_CODE_PATTERN


@dataclass(frozen=True)
class LevelScheme:
    """Levels top down; each level's units have a parent on the level above."""

    names: tuple[str, ...]

    def __contains__(self, level: object) -> bool:
        return level in self.names

    def rank(self, level: str) -> int:
        """0 for the top level, increasing downwards."""
        return self.names.index(level)

    def parent_of(self, level: str) -> str | None:
        """The level of a unit's parent, None at the top."""
        rank = self.rank(level)
        return self.names[rank - 1] if rank > 0 else None

    def child_of(self, level: str) -> str | None:
        """The level below, None at the bottom."""
        rank = self.rank(level)
        return self.names[rank + 1] if rank + 1 < len(self.names) else None

    @classmethod
    def parse(cls, text: str) -> LevelScheme:
        """From a comma-separated list, as in the JL_LEVELS setting."""
        names = tuple(part.strip() for part in text.split(",") if part.strip())
        if not names or len(set(names)) != len(names):
            msg = f"levels must be distinct names separated by commas, got {text!r}"
            raise ValueError(msg)
        return cls(names)


DEFAULT_LEVELS = LevelScheme(("city", "district", "street", "community", "grid"))


@dataclass(frozen=True)
class Rules:
    """The register's configurable rules.

    `tolerance_m2` is how much overlap, gap or overhang (in square metres, measured
    geodesically on the WGS84 ellipsoid) counts as digitising noise rather than an error.
    `served_level` is the level whose units must each be served by exactly one workstation.
    `full_coverage` says whether a unit's children must cover it wherever it has children.
    `code_pattern` is the grammar of codes (`domain.codes`).
    """

    levels: LevelScheme = DEFAULT_LEVELS
    tolerance_m2: float = 5.0
    served_level: str = "community"
    full_coverage: bool = True
    code_pattern: str = DEFAULT_CODE_PATTERN


DEFAULT_RULES = Rules()
