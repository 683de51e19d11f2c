"""Who may do what at the broker, derived from the deployment: one identity per service process
and per edge agent, each with exactly the topics it uses.

Every identity's user name is its MQTT client id — ``ingest.client_id``,
``detect.client_id``, an edge agent's id, and :data:`CONFIG_WRITER` for
whoever publishes desired configs — and the shipped broker config
(``use_username_as_clientid true``) makes the broker use the user name as
the client id, so no credential can take over another identity's session.
Names follow the contract's identifier rules, so none holds ``+ # / $`` and
widens its own rights.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from villagewatch.config import Deployment, Village
from villagewatch.config.partitions import partition_client_id
from villagewatch.contract import Channel, DeviceKind, is_identifier, subscription, topic_for
from villagewatch.errors import VillagewatchError

__all__ = [
    "CONFIG_WRITER",
    "CredentialsError",
    "Identity",
    "IdentityRole",
    "identities_of",
    "merged",
]

CONFIG_WRITER = "vw-config"
"""The identity that publishes the retained desired configs of the edge agents."""


class CredentialsError(VillagewatchError):
    """The deployment's identities cannot be generated as configured; the message says why."""


class IdentityRole(StrEnum):
    """What an identity is."""

    INGEST = "ingest"
    DETECT = "detect"
    CONFIG_WRITER = "config writer"
    AGENT = "edge agent"


@dataclass(frozen=True, slots=True)
class Identity:
    """One broker identity: its user name (= client id) and the topics it may use."""

    name: str
    role: IdentityRole
    read: tuple[str, ...]
    write: tuple[str, ...]
    note: str = ""
    """Shown above its ACL entry (where it comes from)."""


def identities_of(deployment: Deployment) -> list[Identity]:
    """Every identity one settings file calls for: its ingester, its detect process, the config
    writer of its agents, and every edge agent its village files name."""
    s = deployment.settings
    agents = [_agent(v, a) for v in deployment.villages for a in v.agents()]
    out = [_ingest(s.ingest.client_id, s.ingest.only_villages, s.ingest.share_group)]
    out.append(_detect(s.detect.client_id, s.detect.villages))
    for name, villages in (s.detect.partitions or {}).items():  # each partition's session
        out.append(_detect(partition_client_id(s.detect.client_id, name), villages))
    if agents:
        out.append(_config_writer(deployment.villages))
    return out + agents


def merged(groups: Iterable[Sequence[Identity]]) -> list[Identity]:
    """The identities of several settings files together, by name; one name must mean one
    identity everywhere (two villages can't both have an agent ``edge-1``, nor an agent be
    called like a service)."""
    by_name: dict[str, Identity] = {}
    for group in groups:
        for identity in group:
            if not is_identifier(identity.name):
                raise CredentialsError(
                    f"{identity.role} {identity.name!r} can't be a broker identity: names are "
                    "identifiers ([a-z0-9][a-z0-9_-]{0,63})"
                )
            other = by_name.setdefault(identity.name, identity)
            if other.role is identity.role is IdentityRole.CONFIG_WRITER:
                by_name[identity.name] = _union(other, identity)
            elif other != identity:
                raise CredentialsError(
                    f"the name {identity.name!r} is both the {other.role} "
                    f"{_where(other)} and the {identity.role} {_where(identity)}; each "
                    "service process and edge agent signs in as its own name, so give one of "
                    "them another (edge agents: unique across all villages)"
                )
    return sorted(by_name.values(), key=lambda i: (list(IdentityRole).index(i.role), i.name))


def _union(a: Identity, b: Identity) -> Identity:
    return Identity(
        a.name,
        a.role,
        tuple(dict.fromkeys(a.read + b.read)),
        tuple(dict.fromkeys(a.write + b.write)),
        a.note,
    )


def _where(identity: Identity) -> str:
    return f"({identity.note})" if identity.note else ""


def _ingest(client_id: str, villages: list[str] | None, group: str | None) -> Identity:
    read: list[str] = []
    write: list[str] = []
    for v in villages or ["+"]:
        consumed = (Channel.TELEMETRY, Channel.EVENT, Channel.EVIDENCE)
        read += [subscription(c, village=v) for c in consumed]
        if group is not None:
            # Mosquitto 2.0 checks reads when it delivers, against the message's own topic, so
            # the plain form above is what counts; this form serves brokers that check the
            # subscription string itself.
            read += [subscription(c, village=v, group=group) for c in consumed]
        # the ingester clears retained copies of evidence (docs/broker.md): devices can't
        # be stopped from retaining at Mosquitto 2.0's ACL
        write.append(subscription(Channel.EVIDENCE, village=v))
    note = f"ingest.client_id; villages: {', '.join(villages) if villages else 'all'}"
    return Identity(client_id, IdentityRole.INGEST, tuple(read), tuple(write), note)


def _detect(client_id: str, villages: list[str] | None) -> Identity:
    read = [
        subscription(channel, village=v)
        for v in villages or ["+"]
        for channel in (Channel.TELEMETRY, Channel.EVENT, Channel.STATUS)
    ]
    note = f"detect.client_id; villages: {', '.join(villages) if villages else 'all'}"
    return Identity(client_id, IdentityRole.DETECT, tuple(read), (), note)


def _config_writer(villages: Sequence[Village]) -> Identity:
    read: list[str] = []
    write: list[str] = []
    for village in villages:
        for agent in village.agents():
            desired = topic_for(village.id, agent, Channel.CONFIG)
            read += [desired, topic_for(village.id, agent, Channel.CONFIG_REPORTED)]
            write.append(desired)
    return Identity(
        CONFIG_WRITER, IdentityRole.CONFIG_WRITER, tuple(read), tuple(write), "desired configs"
    )


def _agent(village: Village, agent: str) -> Identity:
    v = village.id
    write = [topic_for(v, agent, Channel.STATUS), topic_for(v, agent, Channel.CONFIG_REPORTED)]
    for device in village.devices_of(agent):
        write += [
            topic_for(v, device.id, Channel.TELEMETRY),
            topic_for(v, device.id, Channel.EVENT),
        ]
        if device.kind is DeviceKind.CAMERA:
            write.append(subscription(Channel.EVIDENCE, village=v, device=device.id))
    note = f"village {village.id}: {', '.join(d.id for d in village.devices_of(agent))}"
    return Identity(
        agent, IdentityRole.AGENT, (topic_for(v, agent, Channel.CONFIG),), tuple(write), note
    )
