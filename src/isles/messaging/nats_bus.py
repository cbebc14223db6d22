"""The production bus: NATS JetStream.

* One stream per publishing service (``ISLES_EMPLOYEE`` holds ``isles.employee.>``),
  file-backed, created idempotently when a publisher or a subscriber starts.
* ``publish_many`` sends a batch without waiting for each PubAck (a window of at
  most ``publish_window`` unacknowledged messages); an event counts as taken once
  JetStream has stored it (its PubAck). The event id is the ``Nats-Msg-Id``, so a
  relay that publishes a row twice within the duplicate window stores it once.
* One durable pull consumer per subscribing service on each stream it reads. A
  message is handed to the subscriber in stream order and acknowledged only after
  the subscriber has finished with it (its inbox transaction committed, or the
  event parked as a dead letter); a batch pulled is settled by one task, each
  message acknowledged as soon as its outcome is known. While a slow handler works,
  the bus tells JetStream it is in progress; a message the subscriber gives back
  (it failed, or it stopped while the bus runs) is nak'ed so it comes again. A
  message never acknowledged (the process stopped or died with it) is redelivered
  after ``ack_wait``, then with the backoff schedule; the subscriber is told the
  delivery count and parks an event delivered more than ``max_deliveries`` times.
* The connection reconnects forever. While the server is away, ``ready`` is False,
  publishes fail (the relay backs off and retries) and fetches pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import ssl
import time
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
import orjson
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, BadRequestError, NoStreamResponseError, NotFoundError

from isles.core.backoff import Backoff
from isles.core.events import Envelope
from isles.core.settings import NatsSettings
from isles.core.tasks import cancel_and_wait
from isles.messaging.bus import Subscriber, publish_one

log = structlog.get_logger("isles.nats")

_TOKEN = re.compile(r"[^A-Za-z0-9_-]")
_PULL_EXPIRES = 1.0  # seconds a pull request waits at the server for messages
_PULL_CHECK = 0.5  # seconds between the puller's checks of its requests
_RECONNECT = Backoff(0.2, 5.0, jitter=False)  # connecting, and making streams and consumers


def stream_name(prefix: str, service: str) -> str:
    return _TOKEN.sub("_", f"{prefix}_{service}").upper()


def durable_name(subscriber: str) -> str:
    """The durable consumer a subscribing service reads each stream with."""
    return _TOKEN.sub("_", subscriber)


def source_service(envelope: Envelope) -> str:
    """The publishing service, from the CloudEvents source ``/isles/<service>``."""
    return envelope.source.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class _Subscription:
    subscriber: Subscriber
    stream: str
    service: str
    durable: str
    types: frozenset[str]
    task: asyncio.Task[None] | None = None
    pending: dict[int, tuple[Msg, float]] = field(default_factory=dict)
    waiters: set[asyncio.Task[None]] = field(default_factory=set)
    delivered: int = 0
    puller: Any = None  # the subscription our pull requests are answered on, while pulling
    requested: int = 0  # messages asked for that have not come yet
    asked_until: float = 0.0  # when the last pull request expires at the server
    arrived: list[Msg] = field(default_factory=list)  # come, not yet handed over
    refresh_consumer: bool = False  # the server said the durable is gone


class _Publisher:
    """JetStream publishes whose PubAcks are awaited together, not one by one.

    Each message carries a reply subject of its own under one inbox of ours; the
    PubAck that comes back there resolves the message's future. At most ``window``
    messages wait for their PubAck at once.
    """

    def __init__(self, nc: NatsClient, window: int) -> None:
        self._nc = nc
        self._inbox = nc.new_inbox()
        self._window = window
        self._acks: dict[str, asyncio.Future[None]] = {}
        self._sent = 0
        self._room = asyncio.Event()
        self._room.set()

    async def start(self) -> None:
        await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_ack)

    async def send(self, subject: str, payload: bytes, headers: dict[str, str]) -> asyncio.Future[None]:
        while len(self._acks) >= self._window:
            self._room.clear()
            await self._room.wait()
        self._sent += 1
        token = str(self._sent)
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks[token] = ack
        ack.add_done_callback(functools.partial(self._forget, token))
        try:
            await self._nc.publish(subject, payload, reply=f"{self._inbox}.{token}", headers=headers)
        except BaseException:
            ack.cancel()
            raise
        return ack

    def _forget(self, token: str, _ack: asyncio.Future[None]) -> None:
        self._acks.pop(token, None)
        if len(self._acks) < self._window:
            self._room.set()

    async def _on_ack(self, msg: Msg) -> None:
        ack = self._acks.get(msg.subject[len(self._inbox) + 1 :])
        if ack is None or ack.done():  # given up on already
            return
        if msg.headers and msg.headers.get("Status") == "503":
            ack.set_exception(NoStreamResponseError())
            return
        if b'"error"' in msg.data:  # a PubAck is {"stream":..,"seq":..}; parse only what may be an error
            try:
                error = orjson.loads(msg.data).get("error")
            except orjson.JSONDecodeError as exc:
                ack.set_exception(ConnectionError(f"unreadable PubAck: {exc}"))
                return
            if error is not None:
                ack.set_exception(APIError.from_error(error))
                return
        ack.set_result(None)


class NatsBus:
    """A :class:`~isles.messaging.bus.Bus` on NATS JetStream. ``routes`` maps event type → publishing
    service, or the services that publish it (a platform event, ``isles.SagaFinished``: one stream each)."""

    def __init__(
        self,
        settings: NatsSettings,
        routes: Mapping[str, str | Sequence[str]],
        *,
        max_deliveries: int,
        name: str = "isles",
    ) -> None:
        self.settings = settings
        self.max_deliveries = max_deliveries
        self._routes = {t: (s,) if isinstance(s, str) else tuple(s) for t, s in routes.items()}
        self._name = name
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._publisher: _Publisher | None = None
        self._subs: list[_Subscription] = []
        self._streams_ready: set[str] = set()
        self._publishing: set[str] = set()
        self._connect_task: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------

    def publishes_for(self, service: str) -> None:
        """Declare that this process publishes ``service``'s events (its stream is made at start)."""
        self._publishing.add(service)

    def subscribe(self, subscriber: Subscriber, event_types: Iterable[str]) -> None:
        by_service: dict[str, set[str]] = {}
        for event_type in event_types:
            services = self._routes.get(event_type)
            if not services:
                raise ValueError(f"{subscriber.name} subscribes to {event_type}, which no service publishes")
            for service in services:
                by_service.setdefault(service, set()).add(event_type)
        for service, types in by_service.items():
            if any(s.subscriber.name == subscriber.name and s.service == service for s in self._subs):
                raise ValueError(f"{subscriber.name} already subscribes to {service}'s stream")
            self._subs.append(
                _Subscription(
                    subscriber=subscriber,
                    stream=stream_name(self.settings.prefix, service),
                    service=service,
                    durable=durable_name(subscriber.name),
                    types=frozenset(types),
                )
            )

    @property
    def ready(self) -> bool:
        return self._nc is not None and self._nc.is_connected and self._connected.is_set()

    async def start(self, *, consume: bool = True) -> None:
        """Connect (retrying in the background if the server is away) and start fetching."""
        self._credentials()  # a missing seed file is a configuration error, not a retry
        self._stopping = False
        self._connect_task = asyncio.create_task(self._connect_loop(), name="nats:connect")
        if consume:
            for sub in self._subs:
                sub.task = asyncio.create_task(self._pull_loop(sub), name=f"nats:{sub.durable}:{sub.stream}")
            self._keepalive = asyncio.create_task(self._keep_in_progress(), name="nats:in-progress")

    async def wait_ready(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a bound for callers
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def stop(self) -> None:
        """Stop fetching and close; what is unfinished comes again after ``ack_wait``."""
        self._stopping = True
        tasks = [s.task for s in self._subs if s.task is not None]
        await cancel_and_wait([t for t in (*tasks, self._keepalive, self._connect_task) if t is not None])
        for sub in self._subs:
            sub.task = None
            if sub.puller is not None:
                # No interest left in our pull requests: nothing more is handed to one
                # on its way out.
                with contextlib.suppress(Exception):
                    await sub.puller.unsubscribe()
                sub.puller = None
            sub.arrived.clear()
            sub.requested = 0
        for sub in self._subs:
            await cancel_and_wait(list(sub.waiters))
            # What the subscriber still holds is not nak'ed: it comes again after
            # ack_wait with its delivery counted. (A nak here restarts the count on
            # nats-server 2.9 in some sequences, and an event that hangs the consumer
            # would then never be parked.)
            sub.pending.clear()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=1)
            with contextlib.suppress(Exception):
                await self._nc.close()
        self._nc = None
        self._js = None
        self._publisher = None
        self._connected.clear()

    async def _connect_loop(self) -> None:
        attempt = 0
        while not self._stopping:
            attempt += 1
            delay = _RECONNECT.delay(attempt)
            try:
                self._nc = await nats.connect(
                    self.settings.url,
                    name=self._name,
                    inbox_prefix=self.settings.inbox_prefix,
                    **self._credentials(),
                    connect_timeout=int(max(1, self.settings.connect_timeout)),
                    reconnect_time_wait=1,
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
            except Exception as exc:
                log.warning("nats.connect_failed", url=self.settings.url, error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)
                continue
            self._js = self._nc.jetstream(timeout=self.settings.publish_timeout)
            self._publisher = _Publisher(self._nc, self.settings.publish_window)
            await self._publisher.start()
            await self._ensure_topology()
            return

    def _credentials(self) -> dict[str, Any]:
        """The NKEY seed (the service's NATS user) and the TLS context, where set."""
        found: dict[str, Any] = {}
        seed = self.settings.nkey_seed_file
        if seed is not None:
            if not seed.is_file():
                raise ValueError(f"ISLES_NATS_NKEY_SEED_FILE={seed}: no such file (isles nats auth writes it)")
            found["nkeys_seed"] = str(seed)
        ca = self.settings.tls_ca
        if ca is not None:
            if not ca.is_file():
                raise ValueError(f"ISLES_NATS_TLS_CA={ca}: no such file")
            context = ssl.create_default_context(cafile=str(ca))  # verifies the chain and the host name
            found["tls"] = context
        return found

    async def _ensure_topology(self) -> None:
        """Create streams and durable consumers; retried until the server answers."""
        attempt = 0
        while not self._stopping:
            attempt += 1
            delay = _RECONNECT.delay(attempt)
            try:
                for service in sorted(self._publishing | {s.service for s in self._subs}):
                    # Only a stream's publisher brings its settings up to date; a
                    # subscriber makes it if missing (its NATS user may do no more).
                    await self._ensure_stream(service, update=service in self._publishing)
                for sub in self._subs:
                    await self._ensure_consumer(sub)
            except Exception as exc:
                log.warning("nats.topology_failed", error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)
                continue
            self._connected.set()
            log.info("nats.ready", url=self.settings.url, streams=sorted(self._streams_ready))
            return

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats.error", error=repr(exc))

    async def _on_disconnected(self) -> None:
        if not self._stopping:
            log.warning("nats.disconnected", url=self.settings.url)
        self._connected.clear()

    async def _on_reconnected(self) -> None:
        log.info("nats.reconnected", url=self.settings.url)
        if self._connect_task is None or self._connect_task.done():
            self._connect_task = asyncio.create_task(self._ensure_topology(), name="nats:topology")

    def _stream_config(self, service: str) -> StreamConfig:
        s = self.settings
        return StreamConfig(
            name=stream_name(s.prefix, service),
            subjects=[f"{s.prefix}.{service}.>"],
            storage=StorageType.FILE,
            max_age=s.stream_max_age,
            duplicate_window=s.duplicate_window,
        )

    async def _ensure_stream(self, service: str, *, update: bool = True) -> None:
        assert self._js is not None
        config = self._stream_config(service)
        try:
            await self._js.add_stream(config)
        except BadRequestError:  # exists with another config: bring it to ours
            if update:
                await self._js.update_stream(config)
        self._streams_ready.add(service)

    def _consumer_config(self, sub: _Subscription) -> ConsumerConfig:
        s = self.settings
        # JetStream wants fewer backoff steps than deliveries; the first step is the ack wait.
        backoff = [s.ack_wait, *s.backoff][: self.max_deliveries] if s.backoff else None
        return ConsumerConfig(
            durable_name=sub.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=s.ack_wait,
            # One more delivery than the subscriber allows, so that it can park the event.
            max_deliver=self.max_deliveries + 1,
            backoff=backoff,
            max_ack_pending=s.max_ack_pending,
            filter_subject=f"{s.prefix}.{sub.service}.>",
        )

    async def _ensure_consumer(self, sub: _Subscription) -> None:
        assert self._js is not None
        config = self._consumer_config(sub)
        try:
            await self._js.add_consumer(sub.stream, config)
        except BadRequestError as exc:
            # Refused: either the durable exists with other settings (it keeps them, and
            # its position, which is what matters), or our settings are invalid.
            try:
                await self._js.consumer_info(sub.stream, sub.durable)
            except NotFoundError:
                raise ValueError(f"JetStream refused consumer {sub.durable} on {sub.stream}: {exc}") from exc
            log.warning("nats.consumer_config_kept", stream=sub.stream, durable=sub.durable, error=str(exc))

    # -- publishing ----------------------------------------------------------------

    def subject_for(self, envelope: Envelope) -> str:
        return f"{self.settings.prefix}.{source_service(envelope)}.{_TOKEN.sub('_', envelope.type)}"

    async def publish(self, envelope: Envelope) -> None:
        await publish_one(self, envelope)

    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[asyncio.Future[None]]:
        """Send the batch in order without waiting for each PubAck (at most
        ``publish_window`` unacknowledged at once); each event's future is done when
        its PubAck comes. One whose PubAck has not come within ``publish_timeout``
        fails; if JetStream did store it, a retry is dropped as a duplicate
        (``Nats-Msg-Id``). After an event that could not be sent, none of the batch is
        sent (later events of an aggregate never overtake earlier ones)."""
        loop = asyncio.get_running_loop()
        publisher = self._publisher
        error: Exception | None = None
        if publisher is None or not self._connected.is_set():
            error = ConnectionError(f"NATS at {self.settings.url} is not connected")
        acks: list[asyncio.Future[None]] = []
        for envelope in envelopes:
            if error is None:
                assert publisher is not None
                try:
                    acks.append(
                        await publisher.send(
                            self.subject_for(envelope), envelope.to_bytes(), {"Nats-Msg-Id": envelope.id}
                        )
                    )
                    continue
                except Exception as exc:
                    error = exc
            refused: asyncio.Future[None] = loop.create_future()
            refused.set_exception(error)
            acks.append(refused)
        _expire_after(acks, self.settings.publish_timeout)
        return acks

    # -- consuming ---------------------------------------------------------------

    async def _pull_loop(self, sub: _Subscription) -> None:
        """Keep pull requests open at the server for what the subscriber has room for.

        Messages come on a subscription of ours, as the server has them: no fetch round
        trip per batch, no task per message (nats-py's ``fetch`` makes three per message).
        Asking for more than there is room for costs nothing but a wait: the server
        never has more than ``max_ack_pending`` unacknowledged out. Requests expire after
        ``_PULL_EXPIRES``; the server says so (408) with how many it did not fill, and
        this loop forgets requests it has heard nothing of after they expired (a
        server restart, a reconnect).
        """
        await self._connected.wait()
        while not self._stopping:
            try:
                if not self._connected.is_set():
                    await self._connected.wait()
                    sub.requested = 0
                assert self._nc is not None
                if sub.refresh_consumer:
                    sub.refresh_consumer = False
                    await self._ensure_consumer(sub)
                    sub.requested = 0
                if sub.puller is None:
                    sub.puller = await self._nc.subscribe(
                        self._nc.new_inbox(), cb=functools.partial(self._on_pulled, sub)
                    )
                    sub.requested = 0
                if sub.requested and time.monotonic() > sub.asked_until + _PULL_EXPIRES:
                    sub.requested = 0  # those requests are gone without word
                await self._ask(sub)
                await asyncio.sleep(_PULL_CHECK)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stopping:
                    return
                log.warning("nats.pull_failed", stream=sub.stream, durable=sub.durable, error=repr(exc))
                await asyncio.sleep(0.5)

    async def _ask(self, sub: _Subscription) -> None:
        """Ask the server for more if the subscriber has room for at least half a batch."""
        if self._stopping or sub.puller is None or self._nc is None or not self._connected.is_set():
            return
        batch = min(self.settings.fetch_batch, self.settings.max_ack_pending)
        want = min(batch, self.settings.max_ack_pending - len(sub.pending) - len(sub.arrived)) - sub.requested
        if want < max(1, batch // 2):
            return
        sub.requested += want
        sub.asked_until = time.monotonic() + _PULL_EXPIRES
        await self._nc.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{sub.stream}.{sub.durable}",
            orjson.dumps({"batch": want, "expires": int(_PULL_EXPIRES * 1e9)}),
            reply=sub.puller.subject,
        )

    async def _on_pulled(self, sub: _Subscription, msg: Msg) -> None:
        """One message (or a status) answering our pull requests."""
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            if sub.requested:
                sub.requested -= 1
            if not sub.arrived:
                # Hand over, in one batch, all that has come by the time the loop is free.
                asyncio.get_running_loop().call_soon(self._flush_pulled, sub)
            sub.arrived.append(msg)
            return
        if status == "100":  # a heartbeat
            return
        assert msg.headers is not None
        unfilled = msg.headers.get("Nats-Pending-Messages")
        if unfilled is not None and unfilled.isdigit():
            sub.requested = max(0, sub.requested - int(unfilled))
        else:
            sub.requested = 0
        if status not in ("404", "408"):  # not merely "expired" or "nothing there"
            description = msg.headers.get("Description", "")
            log.warning("nats.pull_refused", stream=sub.stream, durable=sub.durable, status=status, error=description)
            if status == "503" or "Deleted" in description:
                sub.refresh_consumer = True
                return
        await self._ask(sub)

    def _flush_pulled(self, sub: _Subscription) -> None:
        msgs, sub.arrived = sub.arrived, []
        if msgs and not self._stopping:
            self._hand_over(sub, msgs)

    def _hand_over(self, sub: _Subscription, msgs: list[Msg]) -> None:
        """Deliver a fetched batch in stream order; one task settles all of it."""
        taken: list[tuple[int, Msg, Awaitable[None]]] = []
        unreadable: list[Msg] = []
        now = time.monotonic()
        for msg in msgs:
            seq, delivered = _position(msg)
            try:
                envelope = Envelope.from_json(msg.data)
            except Exception as exc:
                log.error("nats.unreadable_message", stream=sub.stream, seq=seq, error=repr(exc))
                unreadable.append(msg)
                continue
            if seq in sub.pending:  # a redelivery of one we are still working on
                continue
            sub.pending[seq] = (msg, now)
            sub.delivered += 1
            taken.append((seq, msg, sub.subscriber.deliver(envelope, delivered)))
        if taken or unreadable:
            waiter = asyncio.create_task(self._settle(sub, taken, unreadable))
            sub.waiters.add(waiter)
            waiter.add_done_callback(sub.waiters.discard)

    async def _settle(
        self, sub: _Subscription, taken: list[tuple[int, Msg, Awaitable[None]]], unreadable: list[Msg]
    ) -> None:
        """Acknowledge each message of a batch as soon as the subscriber has finished
        with it (nak it if the subscriber failed or stopped); terminate the unreadable."""
        for msg in unreadable:
            with contextlib.suppress(Exception):
                await msg.term()
        finished: list[tuple[int, Msg, asyncio.Future[None]]] = []
        wake = asyncio.Event()

        def on_done(seq: int, msg: Msg, outcome: asyncio.Future[None]) -> None:
            finished.append((seq, msg, outcome))
            wake.set()

        for seq, msg, outcome in taken:
            asyncio.ensure_future(outcome).add_done_callback(functools.partial(on_done, seq, msg))
        left = len(taken)
        while left:
            await wake.wait()
            wake.clear()
            ready, finished = finished, []
            left -= len(ready)
            for seq, msg, outcome in ready:
                await self._acknowledge(sub, seq, msg, outcome)

    async def _acknowledge(self, sub: _Subscription, seq: int, msg: Msg, outcome: asyncio.Future[None]) -> None:
        try:
            if outcome.cancelled():
                # The subscriber stopped before finishing it: let it come again now.
                if not self._stopping:
                    with contextlib.suppress(Exception):
                        await msg.nak()
                return
            error = outcome.exception()
            if error is not None:
                log.error("nats.subscriber_failed", stream=sub.stream, seq=seq, error=repr(error))
                with contextlib.suppress(Exception):
                    await msg.nak(delay=self.settings.backoff[0] if self.settings.backoff else 1.0)
                return
            try:
                await msg.ack()
            except Exception as exc:  # it will be redelivered; the inbox makes that a no-op
                log.warning("nats.ack_failed", stream=sub.stream, seq=seq, error=repr(exc))
        finally:
            sub.pending.pop(seq, None)
            with contextlib.suppress(Exception):
                await self._ask(sub)

    async def _keep_in_progress(self) -> None:
        """Tell JetStream about messages still being worked on, so it does not redeliver them."""
        period = max(self.settings.ack_wait / 3, 0.2)
        while not self._stopping:
            await asyncio.sleep(period)
            now = time.monotonic()
            for sub in self._subs:
                for msg, since in list(sub.pending.values()):
                    if now - since >= period:
                        with contextlib.suppress(Exception):
                            await msg.in_progress()

    async def lag(self, subscriber: str) -> int:
        """Messages not yet acknowledged by ``subscriber``: waiting in streams plus in hand."""
        total = 0
        for sub in self._subs:
            if sub.subscriber.name != subscriber:
                continue
            if self._js is None or not self._connected.is_set():
                total += len(sub.pending)
                continue
            try:
                info = await self._js.consumer_info(sub.stream, sub.durable)
            except Exception as exc:
                log.warning("nats.lag_unknown", stream=sub.stream, durable=sub.durable, error=repr(exc))
                total += len(sub.pending)
                continue
            total += int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        return total


def _position(msg: Msg) -> tuple[int, int]:
    """A JetStream message's stream sequence and delivery count, read from its reply
    subject (``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.…``, or with
    domain and account after ``$JS.ACK``) without nats-py's metadata object."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[4])
    if len(tokens) >= 11:
        return int(tokens[7]), int(tokens[6])
    meta = msg.metadata  # a form this does not know: nats-py's parser says
    return meta.sequence.stream, meta.num_delivered


def _expire_after(acks: list[asyncio.Future[None]], timeout: float) -> None:
    """Fail the acks still pending after ``timeout`` seconds (frees their window places)."""
    pending = [a for a in acks if not a.done()]
    if not pending:
        return
    left = len(pending)

    def expire() -> None:
        for ack in pending:
            if not ack.done():
                ack.set_exception(TimeoutError(f"no PubAck from NATS within {timeout} s"))

    timer = asyncio.get_running_loop().call_later(timeout, expire)

    def one_done(_: asyncio.Future[None]) -> None:
        nonlocal left
        left -= 1
        if not left:
            timer.cancel()

    for ack in pending:
        ack.add_done_callback(one_done)
