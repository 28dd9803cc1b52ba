"""Exceptions whose message is meant for the user: the CLI prints them without a traceback."""


class FusionError(Exception):
    """Base of every error Fusion raises on purpose; the message names the file, key or tensor."""


class RecipeError(FusionError):
    """A recipe is malformed: unknown key, wrong type, unknown component name."""


class RegistryError(FusionError):
    """A plugin failed to register, or two plugins claim one name, or a name is unknown."""


class ContractError(FusionError):
    """Components do not fit: a mixer needs a feature no encoder provides, a tensor has a wrong shape."""


class DataError(FusionError):
    """A data file is missing, malformed or inconsistent."""


class TrainingError(FusionError):
    """Training cannot continue (non-finite loss, misconfigured distributed launch)."""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of ``exc``'s message, or its type name when it has none (never IndexError:
    ``str(exc).splitlines()[0]`` fails on an empty message, turning a one-sentence error into a traceback)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def error_message(exc: BaseException) -> str:
    """A FusionError's own message (it names file and fault); other errors with their type, which hints at a bug."""
    return str(exc) if isinstance(exc, FusionError) else f"{type(exc).__name__}: {exc}"
