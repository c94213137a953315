"""An OpenTelemetry SDK tracer provider whose finished spans the tests read from memory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode, Tracer


class _Ended(SpanProcessor):
    """Tells waiting threads that a span ended (after the exporter has it)."""

    def __init__(self, condition: threading.Condition) -> None:
        self.condition = condition

    def on_end(self, span: ReadableSpan) -> None:
        with self.condition:
            self.condition.notify_all()


class Spans:
    """A tracer provider of the test's own (never the global one) and the spans it finished."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        #: What exports the finished spans to memory (to add to another provider).
        self.processor = SimpleSpanProcessor(self.exporter)
        self.provider.add_span_processor(self.processor)
        self._ended = threading.Condition()
        self.provider.add_span_processor(_Ended(self._ended))
        #: For spans a test opens itself (standing for a server's or a task's span).
        self.tracer: Tracer = self.provider.get_tracer("tests")

    def finished(self) -> list[ReadableSpan]:
        """Every finished span, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def names(self) -> list[str]:
        """The names of the finished spans, in the order they ended."""
        return [span.name for span in self.finished()]

    def one(self, name: str) -> ReadableSpan:
        """The one finished span called ``name`` (fails when there are none or several)."""
        found = [span for span in self.finished() if span.name == name]
        assert len(found) == 1, f"{len(found)} spans named {name!r}; finished: {self.names()}"
        return found[0]

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        """The finished span that is ``span``'s parent, or None for a root span."""
        if span.parent is None:
            return None
        for candidate in self.finished():
            if candidate.context is not None and candidate.context.span_id == span.parent.span_id:
                return candidate
        raise AssertionError(f"the parent of {span.name!r} did not finish; {self.names()}")

    def wait_for(self, found: Callable[[], bool], timeout: float = 30) -> None:
        """Wait until ``found()`` is true, checking again each time a span ends (in any thread)."""
        with self._ended:
            if not self._ended.wait_for(found, timeout):
                raise AssertionError(f"not found within {timeout}s; finished: {self.names()}")

    def clear(self) -> None:
        """Forget the spans finished so far."""
        self.exporter.clear()


def is_error(span: ReadableSpan) -> bool:
    """True when ``span``'s status is ERROR."""
    return span.status.status_code is StatusCode.ERROR


def exceptions(span: ReadableSpan) -> list[str]:
    """The types of the exceptions recorded on ``span`` (its ``exception`` events)."""
    return [
        str((event.attributes or {}).get("exception.type"))
        for event in span.events
        if event.name == "exception"
    ]


def spans_fixture() -> Iterator[Spans]:
    """A fresh in-memory tracer provider; shut down after the test."""
    spans = Spans()
    yield spans
    spans.provider.shutdown()


__all__ = ["Spans", "exceptions", "is_error", "spans_fixture"]
