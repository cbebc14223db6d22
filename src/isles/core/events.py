"""Event contracts and their CloudEvents 1.0 envelope.

An event contract is a frozen pydantic model with a type name and a schema version.
Its history lives on the class: ``upcasters[n]`` turns the data of version ``n`` into
version ``n + 1``, so a consumer always reads the newest shape, even of an event
written years ago and still sitting in an outbox or a stream.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Self

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from isles.core.clock import utcnow

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventError(Exception):
    """An event that can never be processed as it is (bad envelope, unknown version)."""


class Event(BaseModel):
    """Base of every event contract."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    upcasters: ClassVar[Mapping[int, Upcaster]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "event_type" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} must declare event_type")
        missing = [v for v in range(1, cls.schema_version) if v not in cls.upcasters]
        if missing:
            raise TypeError(f"{cls.__name__} v{cls.schema_version} lacks upcasters from versions {missing}")

    @classmethod
    def upcast(cls, data: Mapping[str, Any], version: int) -> dict[str, Any]:
        """Bring ``data`` written at ``version`` up to this contract's version."""
        if version > cls.schema_version:
            raise EventError(
                f"{cls.event_type} v{version} is newer than this consumer's "
                f"v{cls.schema_version}: deploy the newer contract first"
            )
        if version < 1:
            raise EventError(f"{cls.event_type}: schema version {version} is invalid")
        current = dict(data)
        for step in range(version, cls.schema_version):
            current = cls.upcasters[step](current)
        return current

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> Self:
        if envelope.type != cls.event_type:
            raise EventError(f"expected {cls.event_type}, got {envelope.type}")
        data = cls.upcast(envelope.data, envelope.schemaversion)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise EventError(f"{cls.event_type} v{cls.schema_version}: {exc}") from exc


_REQUIRED = ("specversion", "id", "source", "type")
_EXTENSIONS = ("aggregatetype", "aggregateid", "aggregateversion", "schemaversion")


@dataclass(frozen=True)
class Envelope:
    """A CloudEvents 1.0 event in structured JSON mode, with the Isles extensions."""

    id: str
    source: str
    type: str
    aggregatetype: str
    aggregateid: str
    aggregateversion: int
    schemaversion: int
    data: dict[str, Any]
    time: datetime = field(default_factory=utcnow)
    tenantid: str = ""
    traceparent: str = ""
    specversion: str = "1.0"
    datacontenttype: str = "application/json"
    #: A repair (``isles audit --repair``): the aggregate's state again at its current
    #: version, which a copy at that very version applies too (its values differ).
    #: Written only when set (extension attribute ``repair``).
    repair: bool = False

    @property
    def subject(self) -> str:
        return self.aggregateid

    @property
    def key(self) -> str:
        """Ordering key: events with the same key are delivered in version order."""
        return f"{self.aggregatetype}:{self.aggregateid}"

    @classmethod
    def new(
        cls,
        event: Event,
        *,
        source: str,
        aggregate_type: str,
        aggregate_id: str,
        aggregate_version: int,
        tenant_id: str = "",
        traceparent: str = "",
        repair: bool = False,
    ) -> Envelope:
        return cls(
            id=str(uuid.uuid4()),
            source=source,
            type=event.event_type,
            aggregatetype=aggregate_type,
            aggregateid=aggregate_id,
            aggregateversion=aggregate_version,
            schemaversion=event.schema_version,
            data=event.model_dump(mode="json"),
            tenantid=tenant_id,
            traceparent=traceparent,
            repair=repair,
        )

    def to_dict(self) -> dict[str, Any]:
        d = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time.isoformat(),
            "datacontenttype": self.datacontenttype,
            "dataschema": f"urn:isles:event:{self.type}:v{self.schemaversion}",
            "aggregatetype": self.aggregatetype,
            "aggregateid": self.aggregateid,
            "aggregateversion": self.aggregateversion,
            "schemaversion": self.schemaversion,
            "tenantid": self.tenantid,
            "traceparent": self.traceparent,
            "data": self.data,
        }
        if self.repair:
            d["repair"] = True
        return d

    def to_json(self) -> str:
        return self.to_bytes().decode()

    def to_bytes(self) -> bytes:
        """The envelope as compact UTF-8 JSON, keys sorted."""
        try:
            return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS)
        except TypeError:  # what orjson refuses (an integer beyond 64 bits) the standard library writes
            return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> Envelope:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            try:  # what orjson refuses (an integer beyond 64 bits) the standard library reads
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise EventError(f"event is not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise EventError("event is not a JSON object")
        return cls.from_dict(obj)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Envelope:
        missing = [k for k in (*_REQUIRED, *_EXTENSIONS) if k not in obj]
        if missing:
            raise EventError(f"event lacks attributes: {', '.join(missing)}")
        if obj["specversion"] != "1.0":
            raise EventError(f"unsupported CloudEvents specversion {obj['specversion']!r}")
        data = obj.get("data", {})
        if not isinstance(data, dict):
            raise EventError("event data must be a JSON object")
        try:
            time = datetime.fromisoformat(obj["time"]) if obj.get("time") else utcnow()
            return cls(
                id=str(obj["id"]),
                source=str(obj["source"]),
                type=str(obj["type"]),
                aggregatetype=str(obj["aggregatetype"]),
                aggregateid=str(obj["aggregateid"]),
                aggregateversion=int(obj["aggregateversion"]),
                schemaversion=int(obj["schemaversion"]),
                data=data,
                time=time,
                tenantid=str(obj.get("tenantid", "")),
                traceparent=str(obj.get("traceparent", "")),
                repair=obj.get("repair") is True,
            )
        except (TypeError, ValueError) as exc:
            raise EventError(f"bad event attribute: {exc}") from exc
