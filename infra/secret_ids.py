"""How a source points at an existing secret (``secret_name`` in cdk.json): its name or its complete ARN.

The functions read a secret imported by name through a *partial* ARN (``arn:...:secret:<name>``).
Secrets Manager takes a partial ARN whose name ends in a hyphen and six characters (``bcda-prod01``)
for a complete one, ending in the random suffix it adds to every ARN, and finds no such secret.
Such a name is refused here; the complete ARN identifies any secret without ambiguity.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_LOOKS_LIKE_SUFFIX = re.compile(r"-[^-/]{6}$")
_COMPLETE_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}-[A-Za-z0-9]{6}$"
)


def is_complete_arn(value: str) -> bool:
    return value.startswith("arn:")


def problem(value: str) -> str | None:
    """Why ``value`` cannot identify an existing secret for the functions, or ``None``."""
    if is_complete_arn(value):
        if _COMPLETE_ARN.match(value):
            return None
        return (
            f"{value!r} is not a complete secret ARN "
            "(arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)"
        )
    if not _NAME.match(value):
        return f"{value!r} is not a Secrets Manager secret name or ARN"
    if _LOOKS_LIKE_SUFFIX.search(value):
        return (
            f"{value!r} ends in a hyphen and six characters, which Secrets Manager reads as the random "
            "suffix of an ARN, so the functions would not find the secret by this name; give the secret's "
            f"full ARN instead (aws secretsmanager describe-secret --secret-id {value} --query ARN)"
        )
    return None
