"""The rental registry: houses, their locks, tenants and the credentials that open the locks.

Operators keep it through the API; the lock detectors read it to tell a
registered credential from an unregistered one. Village files may list houses
as a starting point: they are copied in once and the registry owns them after.
"""

from villagewatch.registry.store import (
    CredentialRecord,
    HouseRecord,
    RegistryRefused,
    RegistryStore,
    TenantRecord,
)

__all__ = ["CredentialRecord", "HouseRecord", "RegistryRefused", "RegistryStore", "TenantRecord"]
