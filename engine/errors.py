"""Exceptions the engine raises for bad input. Each message is meant for the end user."""


class UniHandError(Exception):
    """Base class: an error the user can act on (printed without a traceback by the CLI)."""


class FileFormatError(UniHandError, ValueError):
    """A file is not in the expected format; the message names the file, key and frame."""


class HandModelError(UniHandError, ValueError):
    """A hand model file is missing, unsafe or not in the MANO format."""


class UnsafePickleError(HandModelError):
    """A pickle asked for a class outside the allow-list; nothing in it was executed."""
