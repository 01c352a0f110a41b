"""What a runtime says when it cannot run here, or cannot take a module."""


class BackendUnavailable(ImportError):
    """The runtime is not installed (or cannot run here): one line naming what to install."""


class BackendCannotTake(ValueError):
    """The runtime cannot take this module: one line naming the runtime and the reason."""


def first_line(text: object, default: str = "") -> str:
    """The first line of an error's (or a reason's) text: what a one-line message quotes of it."""
    stripped = str(text).strip()
    return stripped.splitlines()[0] if stripped else default


class CannotProfile(ValueError):
    """The runtime has no per-op profiler here (or not for this module): one line saying why."""
