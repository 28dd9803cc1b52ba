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
