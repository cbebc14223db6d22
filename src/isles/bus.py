"""The bus contract, and the embedded (in-process) bus.

``publish`` returns once the bus has taken responsibility for the event. The embedded
bus keeps nothing on disk, so it takes responsibility only when every subscriber has
finished with the event (applied it, found it a duplicate, or parked it as a dead
letter); until then the outbox row stays unpublished and survives a crash.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Iterable
from typing import Protocol

from isles.events import Envelope


class Subscriber(Protocol):
    name: str

    def deliver(self, envelope: Envelope, delivery: int = 1) -> Awaitable[None]:
        """Take the event (synchronously, preserving call order); await its outcome.

        ``delivery`` counts how often the bus has handed this event over (more than
        one after a crash or an unacknowledged delivery).
        """
        ...


class Bus(Protocol):
    def subscribe(self, subscriber: Subscriber, event_types: Iterable[str]) -> None: ...

    async def publish(self, envelope: Envelope) -> None: ...

    def publishes_for(self, service: str) -> None:
        """Declare that this process publishes ``service``'s events."""
        ...

    @property
    def ready(self) -> bool:
        """False while the bus cannot take or deliver events."""
        ...

    async def start(self, *, consume: bool = True) -> None: ...

    async def stop(self) -> None: ...

    async def lag(self, subscriber: str) -> int:
        """Events the bus holds for ``subscriber`` that it has not finished with."""
        ...


class EmbeddedBus:
    """Delivers in-process, in publish order, to every subscriber of the event's type."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Subscriber]] = defaultdict(list)

    def subscribe(self, subscriber: Subscriber, event_types: Iterable[str]) -> None:
        for event_type in event_types:
            if any(s.name == subscriber.name for s in self._subscribers[event_type]):
                raise ValueError(f"{subscriber.name} already subscribes to {event_type}")
            self._subscribers[event_type].append(subscriber)

    def publishes_for(self, service: str) -> None:
        return None

    @property
    def ready(self) -> bool:
        return True

    async def start(self, *, consume: bool = True) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def lag(self, subscriber: str) -> int:
        return 0  # the subscriber's own queue is the lag; see Consumer.queued

    def subscribers(self, event_type: str) -> tuple[str, ...]:
        return tuple(s.name for s in self._subscribers.get(event_type, ()))

    async def publish(self, envelope: Envelope) -> None:
        # deliver() enqueues before this coroutine first yields, so events reach each
        # subscriber in the order publish() was called.
        outcomes = [s.deliver(envelope) for s in self._subscribers.get(envelope.type, ())]
        if outcomes:
            await asyncio.gather(*outcomes)
