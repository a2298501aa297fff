"""Errors of the local runner itself (arguments, set-up), as opposed to a failed export."""


class LocalRunError(Exception):
    """Printed as one line; the command exits 2."""
