"""Each sink runs as its own consumer group on the `events` topic and receives only the events
the routes send it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter

from caudal.events.model import EVENTS_TOPIC, CanonicalEvent
from caudal.events.router.decoded import SHARED, DecodedEvents
from caudal.events.router.rules import RouteTable
from caudal.events.router.table import Routes
from caudal.events.sinks.port import Sink
from caudal.platform.bus.model import KindFilter, Message, Record
from caudal.platform.bus.port import Lingering

ROUTED = Counter(
    "caudal_router_events_total", "Events the router delivered to each sink.", ["sink"]
)
_KINDS_KEPT = 10_000  # decisions per kind remembered (cleared when more kinds appear)


class SinkConsumer:
    """A bus `Consumer` whose group is the sink's name (`caudal worker --group lake`)."""

    topics: tuple[str, ...] = (EVENTS_TOPIC,)

    def __init__(self, sink: Sink, routes: Routes, events: DecodedEvents = SHARED) -> None:
        self.sink = sink
        self.routes = routes
        self.events = events  # one decode per message for every group of the process
        self.group = sink.name
        batch_size = getattr(sink, "batch_size", None)
        if isinstance(batch_size, int):
            self.batch_size = batch_size
        self._table: RouteTable | None = None
        self._by_kind = False
        self._every = False  # a rule sends this sink every event
        self._kinds: dict[tuple[Any, Any, Any], bool] = {}
        self._filter: KindFilter | None = None

    def kinds(self) -> KindFilter | None:
        """`bus.port.Filtering`: the kinds the routes in force send this sink, so the bus need
        not hand over (nor this group decode) the others; `handle` still decides every event."""
        table = self.routes.current()
        if table is not self._table:
            self._use(table)
        return self._filter

    def hurry(self) -> None:
        """The process is stopping: a sink holding a delivery (the lake) writes it now."""
        if isinstance(self.sink, Lingering):
            self.sink.hurry()

    def _sends(self, table: RouteTable, message: Message) -> CanonicalEvent | None:
        """The event if the routes send it to this sink. Most groups take a few kinds of the
        events they read (customers.activity, webhook): when the routes decide by kind, an event
        of a kind the sink does not take is not even decoded."""
        if not self._by_kind:
            event = self.events.event(message)
            return event if table.sends(event, self.sink.name) else None
        payload = message.payload
        kind = (payload.get("source"), payload.get("type"), payload.get("version"))
        try:
            sent = self._kinds.get(kind)
        except TypeError:  # not a kind at all (a list as type...): decided on the event
            event = self.events.event(message)
            return event if table.sends(event, self.sink.name) else None
        if sent is False:
            return None
        event = self.events.event(message)
        if sent is None:
            if len(self._kinds) >= _KINDS_KEPT:
                self._kinds.clear()
            sent = self._kinds[kind] = table.sends(event, self.sink.name)
        return event if sent else None

    def _use(self, table: RouteTable) -> None:
        """The routes changed (or are first read): what this sink gets, asked anew."""
        self._table, self._by_kind = table, table.by_kind(self.sink.name)
        self._every = table.sends_every(self.sink.name)
        self._filter = table.kinds(self.sink.name)
        self._kinds.clear()

    async def handle(self, records: Sequence[Record]) -> None:
        table = self.routes.current()
        if table is not self._table:
            self._use(table)
        taken: Sequence[Record] = records
        if self._every:  # the lake, realtime: every event, decoded (and checked) all the same
            event = self.events.event
            events = [event(r.message) for r in records]
        else:
            kept: list[Record] = []
            events = []
            for record in records:
                sent = self._sends(table, record.message)
                if sent is not None:
                    kept.append(record)
                    events.append(sent)
            taken = kept
        if not events:
            return
        if getattr(self.sink, "positioned", False):
            # A sink that names what it writes after bus positions (the lake).
            positions = [(r.message.key, r.offset, r.published_at) for r in taken]
            await self.sink.write(events, positions)  # type: ignore[call-arg]
        else:
            await self.sink.write(events)
        ROUTED.labels(self.sink.name).inc(len(events))
