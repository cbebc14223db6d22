"""Envelopes and contracts: CloudEvents 1.0 round trips, upcasting, clear errors."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import pytest

from isles.core import tracing
from isles.core.events import Envelope, Event, EventError, Upcaster
from tests.isles.toy import Pinged


def envelope(**over: Any) -> Envelope:
    event = Pinged(id=uuid.uuid4(), n=3)
    env = Envelope.new(
        event,
        source="/isles/source",
        aggregate_type="counter",
        aggregate_id=str(event.id),
        aggregate_version=4,
        tenant_id="t1",
        traceparent=tracing.new_traceparent(),
    )
    return Envelope(**{**env.__dict__, **over})


def test_envelope_round_trips_through_json() -> None:
    env = envelope()
    back = Envelope.from_json(env.to_json())
    assert back == env
    d = env.to_dict()
    assert d["specversion"] == "1.0"
    assert d["datacontenttype"] == "application/json"
    assert d["dataschema"] == "urn:isles:event:toy.Pinged:v2"
    assert d["subject"] == env.aggregateid


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"specversion": "1.0", "id": "x"}', "lacks attributes"),
        (
            b'{"specversion":"0.3","id":"x","source":"s","type":"t","aggregatetype":"a",'
            b'"aggregateid":"i","aggregateversion":1,"schemaversion":1}',
            "specversion",
        ),
        (
            b'{"specversion":"1.0","id":"x","source":"s","type":"t","aggregatetype":"a",'
            b'"aggregateid":"i","aggregateversion":"one","schemaversion":1}',
            "bad event attribute",
        ),
    ],
)
def test_bad_envelopes_are_refused_clearly(raw: bytes, message: str) -> None:
    with pytest.raises(EventError, match=message):
        Envelope.from_json(raw)


def test_upcasting_chains_to_the_newest_version() -> None:
    def one_to_two(d: dict[str, Any]) -> dict[str, Any]:
        return {"full": d["name"]}

    def two_to_three(d: dict[str, Any]) -> dict[str, Any]:
        first, _, last = d["full"].partition(" ")
        return {"first": first, "last": last}

    class Renamed(Event):
        event_type: ClassVar[str] = "t.Renamed"
        schema_version: ClassVar[int] = 3
        upcasters: ClassVar[dict[int, Upcaster]] = {1: one_to_two, 2: two_to_three}
        first: str
        last: str

    assert Renamed.upcast({"name": "Ada Lovelace"}, 1) == {"first": "Ada", "last": "Lovelace"}
    assert Renamed.upcast({"full": "Ada King"}, 2) == {"first": "Ada", "last": "King"}
    with pytest.raises(EventError, match="newer than this consumer"):
        Renamed.upcast({}, 4)


def test_a_contract_without_its_upcasters_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="lacks upcasters"):

        class Broken(Event):
            event_type: ClassVar[str] = "t.Broken"
            schema_version: ClassVar[int] = 2


def test_events_are_frozen_and_strict() -> None:
    event = Pinged(id=uuid.uuid4(), n=1)
    with pytest.raises(Exception, match="frozen"):
        event.n = 2  # type: ignore[misc]
    with pytest.raises(EventError, match=r"toy\.Pinged v2"):
        Pinged.from_envelope(envelope(data={"id": "not-a-uuid", "n": 1}))


def test_traceparent_children_keep_the_trace() -> None:
    root = tracing.new_traceparent()
    child = tracing.new_traceparent(root)
    assert tracing.is_valid(root)
    assert tracing.is_valid(child)
    assert child.split("-")[1] == root.split("-")[1]
    assert child.split("-")[2] != root.split("-")[2]
    assert tracing.new_traceparent("garbage").split("-")[1] != root.split("-")[1]
