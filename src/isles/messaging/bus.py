"""The bus contract, and the embedded (in-process) bus.

``publish_many`` hands a batch of events over in order and gives one future per
event: done once the bus has taken responsibility for the event, failed with the
reason when it did not. The embedded bus keeps nothing on disk, so it takes
responsibility only when every subscriber has finished with the event (applied it,
found it a duplicate, or parked it as a dead letter); until then the outbox row stays
unpublished and survives a crash.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, Protocol

from isles.core.events import Envelope


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

    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[asyncio.Future[None]]:
        """Hand ``envelopes`` over in their order; return once they are handed over.

        A caller that awaits each call before making the next keeps the order across
        calls. One future per envelope: its result once the bus has taken the event,
        its exception (or cancellation) when the bus did not.
        """
        ...

    async def publish(self, envelope: Envelope) -> None:
        """Publish one event; return once the bus has taken it, else raise."""
        ...

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


async def publish_one(bus: Bus, envelope: Envelope) -> None:
    """:meth:`Bus.publish` in terms of :meth:`Bus.publish_many`."""
    (outcome,) = await bus.publish_many([envelope])
    await outcome


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
        await publish_one(self, envelope)

    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[asyncio.Future[None]]:
        return self.deliver_many(envelopes)

    def deliver_many(self, envelopes: Sequence[Envelope]) -> list[asyncio.Future[None]]:
        """Deliver each event to its subscribers, now and in order; a future per event."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for envelope in envelopes:
            outcomes = [s.deliver(envelope) for s in self._subscribers.get(envelope.type, ())]
            if len(outcomes) == 1 and isinstance(outcomes[0], asyncio.Future):
                futures.append(_shielded(outcomes[0]))
            elif outcomes:
                futures.append(_shielded(asyncio.gather(*outcomes)))
            else:
                nobody: asyncio.Future[None] = loop.create_future()
                nobody.set_result(None)
                futures.append(nobody)
        return futures


def _shielded(inner: asyncio.Future[Any]) -> asyncio.Future[None]:
    """A future that follows ``inner``; cancelling it leaves ``inner`` (a subscriber's) alone."""
    outer: asyncio.Future[None] = inner.get_loop().create_future()

    def follow(done: asyncio.Future[Any]) -> None:
        if outer.done():
            if not done.cancelled():
                done.exception()  # retrieved: the publisher gave up on it
            return
        if done.cancelled():
            outer.cancel()
        elif (error := done.exception()) is not None:
            outer.set_exception(error)
        else:
            outer.set_result(None)

    inner.add_done_callback(follow)
    return outer
