"""Typed errors of the project.

Every problem with user input surfaces as one of these, carrying *where* (a path,
a sample id, a config key) and *what* went wrong. The command line prints
``str(error)`` on one line and exits non-zero; the app shows it as a message.
"""
from __future__ import annotations

from pathlib import Path


class STFError(Exception):
    """Base class of every error the project raises on purpose."""


class DataError(STFError, ValueError):
    """A data file or sample is unreadable, corrupt or inconsistent.

    ``where`` names the file (or sample id) and ``problem`` says what is wrong;
    ``str(err)`` is ``"<where>: <problem>"``. Raise it ``from`` the low-level cause.
    """

    def __init__(self, where: str | Path | None, problem: str):
        self.where = str(where) if where is not None else None
        self.problem = problem
        super().__init__(f"{self.where}: {problem}" if self.where else problem)


class LayoutError(STFError, ValueError):
    """An unknown skeleton layout, or data that does not fit the layout asked for."""


class ConfigError(STFError, ValueError):
    """A configuration file or value is invalid."""


class ArgumentError(STFError, ValueError):
    """An argument of an API call is of the wrong type or out of its range (e.g. a class index)."""


class CheckpointError(STFError, ValueError):
    """A checkpoint is unreadable, of another schema, or meant for another layout / class set."""


class TrainingError(STFError, RuntimeError):
    """Training cannot go on (the loss or the weights are no longer finite); the last checkpoint is kept."""
