"""OpenTelemetry traces across intake → Kafka → consumers, carried in the event itself.

The carrier is the CloudEvents distributed-tracing extension: intake stamps `traceparent`
(W3C Trace Context) on every event it accepts, inside the stored envelope, so the ledger
chains it with the rest; consumers read it back and start a span per batch linked to the
events' contexts. Off unless QMS_OTLP_TRACES_ENDPOINT names an OTLP/HTTP collector: when
off, nothing of OpenTelemetry is imported and nothing is stamped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

TRACEPARENT = "traceparent"
# version-traceid-parentid-flags, the W3C Trace Context header; all-zero ids are invalid.
TRACEPARENT_PATTERN = r"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$"
_TRACEPARENT = re.compile(TRACEPARENT_PATTERN)
_VALUE_TRACEPARENT = re.compile(rb'"traceparent":"(00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})"')
MAX_LINKS = 128  # a batch of 10,000 events links to its first 128 contexts


class Tracing:
    """Tracing switched off: every span is a no-op and yields no traceparent."""

    enabled = False

    @contextmanager
    def span(
        self,
        name: str,
        *,
        parent: str | None = None,
        links: Iterable[str | None] = (),
        attributes: dict[str, Any] | None = None,
    ) -> Iterator[str | None]:
        """A span named `name`, child of `parent`, linked to `links` (traceparents);
        yields its own traceparent (None when off)."""
        yield None

    def shutdown(self) -> None:
        """Flush what is buffered (on stop)."""

    @contextmanager
    def batch(self, name: str, values: Iterable[bytes | None]) -> Iterator[None]:
        """A consumer's span over one batch of record values, linked to the trace context
        each event carries, and the child of it when the whole batch shares one (a request's
        batch). Off: the values are not even looked at."""
        if not self.enabled:
            yield
            return
        contexts = list(dict.fromkeys(tp for v in values if (tp := traceparent_of(v))))
        parent = contexts[0] if len(contexts) == 1 else None
        with self.span(
            name, parent=parent, links=contexts, attributes={"qms.trace_contexts": len(contexts)}
        ):
            yield


NO_TRACING = Tracing()


class OpenTelemetryTracing(Tracing):
    """Spans of one service through its own TracerProvider (no global state)."""

    enabled = True

    def __init__(self, provider: Any) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self.tracer = provider.get_tracer("qms-trail")
        self.propagator = TraceContextTextMapPropagator()

    @contextmanager
    def span(
        self,
        name: str,
        *,
        parent: str | None = None,
        links: Iterable[str | None] = (),
        attributes: dict[str, Any] | None = None,
    ) -> Iterator[str | None]:
        from opentelemetry import trace

        context = self._context(parent) if parent else None
        span_links: list[Any] = []
        for traceparent in links:
            if len(span_links) >= MAX_LINKS:
                break
            linked = trace.get_current_span(self._context(traceparent)).get_span_context()
            if linked.is_valid:
                span_links.append(trace.Link(linked))
        with self.tracer.start_as_current_span(
            name, context=context, links=span_links, attributes=attributes
        ):
            carrier: dict[str, str] = {}
            self.propagator.inject(carrier)
            yield carrier.get(TRACEPARENT)

    def _context(self, traceparent: str | None) -> Any:
        if not traceparent or not _TRACEPARENT.match(traceparent):
            return None
        return self.propagator.extract({TRACEPARENT: traceparent})

    def shutdown(self) -> None:
        self.provider.shutdown()


def configure_tracing(service: str, endpoint: str | None, exporter: Any = None) -> Tracing:
    """Tracing for `service`: to the OTLP/HTTP `endpoint`, or to `exporter` (tests: the
    SDK's in-memory exporter); NO_TRACING when neither is given."""
    if not endpoint and exporter is None:
        return NO_TRACING
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return OpenTelemetryTracing(provider)


def traceparent_of(value: bytes | None) -> str | None:
    """The `traceparent` attribute of a structured CloudEvent record value, if any.

    A scan of the bytes rather than a parse: consumers call it for every record of a batch.
    """
    if not value:
        return None
    found = _VALUE_TRACEPARENT.search(value)
    return found.group(1).decode() if found else None
