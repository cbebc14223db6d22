"""Consuming from NATS JetStream: the CPU one message costs the consuming process.

Side by side in one run, on one stream of N messages (the NATS server of the
machine, or ``--url``):

* nats-py fetch: the plain loop, ``pull_subscribe_bind`` + ``fetch(batch)``, each
  message's metadata read and the message acknowledged (what ``NatsBus`` did before
  issue 13's third round);
* isles bus: ``NatsBus`` with a subscriber that finishes each message at once: its
  puller (pull requests kept open, messages on a subscription callback), hand-over
  in batches, one acknowledgement per message.

Each row: messages/s and the process's CPU µs per message while it drains the
stream, and its ratio to the first row. Only the consuming side is measured (the
stream is filled first). Both rows acknowledge every message and wait until the
server has counted every acknowledgement.

    python benchmarks/nats_pull.py                 # 20,000 messages, batch 256
    python benchmarks/nats_pull.py --messages 5000 --url nats://127.0.0.1:4222
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import uuid

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from isles.core.events import Envelope, Event
from isles.core.settings import NatsSettings
from isles.messaging.nats_bus import NatsBus, stream_name


class Pinged(Event):
    event_type = "bench.Pinged"
    n: int


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Finisher:
    name = "bench"

    def __init__(self, total: int, done: asyncio.Event) -> None:
        self.total, self.seen, self.done = total, 0, done

    def deliver(self, envelope: Envelope, delivery: int = 1) -> asyncio.Future[None]:
        self.seen += 1
        if self.seen >= self.total:
            self.done.set()
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        outcome.set_result(None)
        return outcome


async def _wait_acked(js: object, stream: str, durable: str) -> None:
    while True:
        info = await js.consumer_info(stream, durable)  # type: ignore[attr-defined]
        if not info.num_ack_pending and not info.num_pending:
            return
        await asyncio.sleep(0.01)


async def _nats_py_fetch(js: object, stream: str, total: int, batch: int) -> tuple[float, float]:
    durable = "fetch"
    await js.add_consumer(  # type: ignore[attr-defined]
        stream,
        ConsumerConfig(
            durable_name=durable, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, max_ack_pending=1024
        ),
    )
    psub = await js.pull_subscribe_bind(durable, stream)  # type: ignore[attr-defined]
    cpu0, t0 = _cpu(), time.perf_counter()
    got = 0
    while got < total:
        for msg in await psub.fetch(batch, timeout=5):
            _ = msg.metadata.sequence.stream, msg.metadata.num_delivered
            Envelope.from_json(msg.data)
            await msg.ack()
            got += 1
    await _wait_acked(js, stream, durable)
    return time.perf_counter() - t0, _cpu() - cpu0


async def _isles_bus(url: str, prefix: str, total: int, batch: int) -> tuple[float, float]:
    settings = NatsSettings(url=url, prefix=prefix, fetch_batch=batch)
    bus = NatsBus(settings, {"bench.Pinged": "bench"}, max_deliveries=10)
    done = asyncio.Event()
    bus.subscribe(_Finisher(total, done), ["bench.Pinged"])
    cpu0, t0 = _cpu(), time.perf_counter()
    await bus.start()
    try:
        await bus.wait_ready()
        await asyncio.wait_for(done.wait(), 120)
        while await bus.lag("bench"):  # noqa: ASYNC110 - the server signals nothing
            await asyncio.sleep(0.01)
        return time.perf_counter() - t0, _cpu() - cpu0
    finally:
        await bus.stop()


async def main(args: argparse.Namespace) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    stream = stream_name(prefix, "bench")
    nc = await nats.connect(args.url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{prefix}.bench.>"]))
    try:
        print(f"filling {stream} with {args.messages} messages ...", file=sys.stderr)
        pending = []
        for i in range(args.messages):
            envelope = Envelope.new(
                Pinged(n=i),
                source="/isles/bench",
                aggregate_type="bench",
                aggregate_id=str(uuid.UUID(int=i % 1000)),
                aggregate_version=i // 1000 + 1,
            )
            pending.append(await js.publish_async(f"{prefix}.bench.Pinged", envelope.to_bytes()))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        rows = []
        print("nats-py fetch ...", file=sys.stderr)
        rows.append(("nats-py fetch", *await _nats_py_fetch(js, stream, args.messages, args.batch)))
        print("isles bus ...", file=sys.stderr)
        rows.append(("isles bus", *await _isles_bus(args.url, prefix, args.messages, args.batch)))
    finally:
        await js.delete_stream(stream)
        await nc.close()
    base = rows[0][2] / args.messages
    print(f"Consuming {args.messages} messages from JetStream, batch {args.batch} (one process, consuming side)")
    print(f"{'path':<16}| {'msgs/s':>8} | {'CPU µs/msg':>10} | {'CPU ratio':>9}")
    print("-" * 52)
    for name, wall, cpu in rows:
        per = cpu / args.messages
        print(f"{name:<16}| {args.messages / wall:>8.0f} | {per * 1e6:>10.1f} | {per / base:>9.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000, help="messages in the stream (default 20,000)")
    parser.add_argument("--batch", type=int, default=256, help="fetch batch / pull request size (default 256)")
    parser.add_argument("--url", default="nats://127.0.0.1:4222", help="the NATS server (JetStream enabled)")
    asyncio.run(main(parser.parse_args()))
