"""The broker's identities: who may publish and read what, generated from the village config."""

from villagewatch.broker.credentials import ACL_FILE, PASSWORD_FILE, Written, write_credentials
from villagewatch.broker.identities import (
    CONFIG_WRITER,
    CredentialsError,
    Identity,
    IdentityRole,
    identities_of,
    merged,
)

__all__ = [
    "ACL_FILE",
    "CONFIG_WRITER",
    "PASSWORD_FILE",
    "CredentialsError",
    "Identity",
    "IdentityRole",
    "Written",
    "identities_of",
    "merged",
    "write_credentials",
]
