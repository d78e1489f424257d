"""Each sink runs as its own consumer group on the `events` topic and receives only the events
the routes send it."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter

from caudal.events.model import EVENTS_TOPIC, CanonicalEvent
from caudal.events.router.table import Routes
from caudal.events.sinks.port import Sink
from caudal.platform.bus.model import Record

ROUTED = Counter(
    "caudal_router_events_total", "Events the router delivered to each sink.", ["sink"]
)


class SinkConsumer:
    """A bus `Consumer` whose group is the sink's name (`caudal worker --group lake`)."""

    topics: tuple[str, ...] = (EVENTS_TOPIC,)

    def __init__(self, sink: Sink, routes: Routes) -> None:
        self.sink = sink
        self.routes = routes
        self.group = sink.name
        batch_size = getattr(sink, "batch_size", None)
        if isinstance(batch_size, int):
            self.batch_size = batch_size

    async def handle(self, records: Sequence[Record]) -> None:
        table = self.routes.current()
        events: list[CanonicalEvent] = []
        for record in records:
            event = CanonicalEvent.from_dict(record.message.payload)
            if table.sends(event, self.sink.name):
                events.append(event)
        if events:
            await self.sink.write(events)
            ROUTED.labels(self.sink.name).inc(len(events))
