"""What a trail-read worker process does: plan a subject's segments and render its document.

The intake process writes the subject index; its few reader processes open the same store as
RocksDB secondary instances and do all of a read there (planning the segments, fetching the
subject's events from Kafka by offset, building the document and its JSON), so that a read
never holds the intake process's GIL nor its event loop while publishing has work to do.
Only the JSON bytes come back.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import json
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.kafka_security import aiokafka_security
from services.common.settings import CommonSettings
from services.intake.ledger.adapters.kafka import fetch_values
from services.intake.ledger.adapters.keys import verifier_from_text
from services.intake.ledger.adapters.trail_index import TrailIndexReader
from services.intake.ledger.domain.chain import chain_key, split_chain_key
from services.intake.ledger.domain.merkle import consistency_path
from services.intake.ledger.domain.note import Verifier
from services.intake.ledger.domain.trail import TRAIL_VERSION, Segment, segment_document

READER_NICENESS = 10
_reader: TrailIndexReader | None = None
_verifier: Verifier | None = None


@dataclass(frozen=True)
class RenderedTrail:
    """A trail document as JSON, with what the endpoint decides on without parsing it."""

    body: bytes
    chains: int  # 0: no chained event has the subject
    agencies: tuple[str, ...]  # the events' agency codes
    unattributed: int = 0  # events whose agency cannot be read (not JSON, a missing record)


def open_reader(primary: str, vkey: str | None) -> None:
    """Process initializer: this process's secondary view of the index, and the key."""
    global _reader, _verifier
    # Below the intake process in the CPU scheduler's eyes: on a busy machine the time a
    # reader takes comes out of other readers, not out of publishing.
    os.nice(READER_NICENESS)
    scratch = tempfile.mkdtemp(prefix="qms-trail-reader-")
    atexit.register(shutil.rmtree, scratch, True)
    _reader = TrailIndexReader.secondary_of(Path(primary), Path(scratch))
    _verifier = verifier_from_text(vkey, "the trail index's checkpoint key") if vkey else None


def warm() -> None:
    """Nothing: submitted once so that the process is spawned and imported before a read."""


def read(
    subject: str,
    max_entries: int,
    kafka: CommonSettings,
    witness: Mapping[str, int] | None = None,
) -> RenderedTrail:
    """A subject's whole read: plan its segments, fetch its events from their topic by offset,
    render the document (all of it here, none of it in the process that serves publishers)."""
    segments = _opened().plan(subject, _verifier, max_entries)
    # The settings travel (the TLS context does not pickle); the options are built here.
    bootstrap, security = kafka.kafka_bootstrap_servers, aiokafka_security(kafka)
    values = (
        asyncio.run(fetch_values(bootstrap, _wanted(segments), security=security))
        if segments
        else {}
    )
    by_chain = {(chain_key(t, p), offset): value for (t, p, offset), value in values.items()}
    return render(subject, segments, by_chain, witness)


def _wanted(segments: Sequence[Segment]) -> dict[tuple[str, int], list[int]]:
    wanted: dict[tuple[str, int], list[int]] = defaultdict(list)
    for segment in segments:
        wanted[split_chain_key(segment.chain)].extend(segment.offsets)
    return wanted


def render(
    subject: str,
    segments: Sequence[Segment],
    values: Mapping[tuple[str, int], bytes],
    witness: Mapping[str, int] | None = None,
) -> RenderedTrail:
    """The document of planned `segments`, with the event `values` by (chain, offset).

    The entries are spliced in as the index stores them (their JSON), not parsed and
    re-serialised: a segment of 2,000 entries costs a join, not 2,000 round trips.
    """
    reader = _opened()
    chains: list[bytes] = []
    agencies: set[str] = set()
    unattributed = 0
    for segment in sorted(segments, key=lambda s: (s.chain, s.first)):
        raw, mine = reader.entries(segment)
        nodes = reader.nodes(segment.chain)
        document = segment_document(
            segment, mine, values, nodes, (witness or {}).get(segment.chain)
        )
        for item in document["events"]:
            event = item.get("event")
            agency = event.get("agencycode") if isinstance(event, dict) else None
            if isinstance(agency, str):
                agencies.add(agency)
            else:
                unattributed += 1
        chains.append(_dumps(document)[:-1] + b',"entries":[' + b",".join(raw) + b"]}")
    body = b'{"version":%d,"subject":%s,"chains":[%s]}' % (
        TRAIL_VERSION,
        _dumps(subject),
        b",".join(chains),
    )
    return RenderedTrail(body, len(chains), tuple(sorted(agencies)), unattributed)


def _dumps(value: object) -> bytes:
    # As Starlette's JSONResponse renders; an event must stay canonicalisable to its leaf.
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _opened() -> TrailIndexReader:
    if _reader is None:
        raise RuntimeError("open_reader was not run in this process")
    return _reader


def consistency(chain: str, first: int, second: int) -> bytes | None:
    """The consistency proof between tree sizes `first` < `second` of `chain`, with the signed
    checkpoints of those sizes (when there are), as JSON; None when the index holds fewer
    than `second` entries of the chain."""
    reader = _opened()
    if reader.chain_size(chain) < second:
        return None
    proof = consistency_path(first, second, reader.nodes(chain))
    notes = [reader.checkpoint_of_size(chain, size, _verifier) for size in (first, second)]
    return _dumps(
        {
            "chain": chain,
            "first": {"size": first, "checkpoint": notes[0].text if notes[0] else None},
            "second": {"size": second, "checkpoint": notes[1].text if notes[1] else None},
            "proof": [base64.b64encode(h).decode() for h in proof],
        }
    )
