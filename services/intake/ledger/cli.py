"""`qms audit …` commands: verify the audit trail and run the ledger worker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from aiokafka.errors import KafkaError

from services.intake.ledger.adapters.checkpoint_file import read_notes
from services.intake.ledger.adapters.keys import LedgerKeyError, load_verifier
from services.intake.ledger.domain.note import Verifier
from services.intake.ledger.domain.trail import TrailReport, verify_trail
from services.intake.ledger.domain.witness import (
    check_consistency_document,
    check_witnessed,
    last_witnessed,
)
from services.intake.ledger.service import VerifyResult, verify_topics
from services.intake.ledger.settings import LedgerSettings

EXIT_OK, EXIT_BROKEN, EXIT_UNREADABLE = 0, 1, 2


def register_audit_commands(audit_app: typer.Typer) -> None:
    """Add `verify` and `ledger-worker` to the `qms audit` group."""
    audit_app.command("verify")(verify)
    audit_app.command("ledger-worker")(ledger_worker)


def verify(
    topic: Annotated[
        list[str] | None,
        typer.Option(help="Short topic name to verify (repeatable); default: every chained topic."),
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option(help="Also prove this subject's events are in the verified chains."),
    ] = None,
    events_topic: Annotated[
        str | None,
        typer.Option(help="Full name of a copy of --topic to read the events from instead."),
    ] = None,
    checkpoint_file: Annotated[
        Path | None,
        typer.Option(
            help="Checkpoint file kept outside Kafka (JSON lines); default: "
            "QMS_LEDGER_CHECKPOINT_FILE when that file exists."
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(help="Verifier key file (name+id+key line, or PEM); default from settings."),
    ] = None,
    consistency_file: Annotated[
        Path | None,
        typer.Option(help="Check a saved GET /v1/audit/consistency/{chain} response offline."),
    ] = None,
    trail_file: Annotated[
        Path | None,
        typer.Option(
            help="Check a saved GET /v1/audit/trail/{subject} response offline (with "
            "--checkpoint-file: against the last witnessed checkpoint of each chain)."
        ),
    ] = None,
) -> None:
    """Recompute every leaf, link and checkpoint; exit 1 naming the first broken entry.

    Exit codes: 0 verified, 1 the trail is broken (tampering or loss), 2 it could not be
    read (no key, no broker, an unreadable file): automation tells an outage from tampering.
    """
    settings = LedgerSettings()
    try:
        verifier = load_verifier(settings, public_key)
    except LedgerKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    if consistency_file is not None:
        _verify_consistency_file(consistency_file, verifier)
    if trail_file is not None:
        try:
            document = json.loads(trail_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            typer.echo(f"error: {trail_file}: {exc}", err=True)
            raise typer.Exit(EXIT_UNREADABLE) from exc
        report = verify_trail(document, verifier)
        _print_trail(report)
        ok = report.ok
        if checkpoint_file is not None:
            ok = _check_witness(document, checkpoint_file, verifier) and ok
        raise typer.Exit(EXIT_OK if ok else EXIT_BROKEN)
    anchor = checkpoint_file or _existing(settings.checkpoint_file)
    try:
        extra = read_notes(anchor) if anchor is not None else []
        result = asyncio.run(
            verify_topics(
                settings,
                verifier,
                topics=topic,
                events_topic=events_topic,
                subject=subject,
                extra_checkpoints=extra,
            )
        )
    except (ValueError, LookupError, OSError, KafkaError) as exc:
        typer.echo(f"error: could not read the trail: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    _print_result(result)
    if anchor is not None:
        typer.echo(f"checked against {len(extra)} checkpoint(s) kept outside Kafka in {anchor}")
    raise typer.Exit(EXIT_OK if result.ok else EXIT_BROKEN)


def _verify_consistency_file(path: Path, verifier: Verifier) -> None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {path}: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    problem = check_consistency_document(document, verifier)
    if problem is not None:
        typer.echo(f"BROKEN {problem}")
        raise typer.Exit(EXIT_BROKEN)
    sizes = f"{document['first']['size']} → {document['second']['size']}"
    typer.echo(f"OK: {document['chain']}: the tree of size {sizes} only grew (consistency proof)")
    raise typer.Exit(EXIT_OK)


def _check_witness(document: object, anchor: Path, verifier: Verifier) -> bool:
    """The trail's checkpoints against the last witnessed ones in `anchor`; True if they hold."""
    try:
        witnessed = last_witnessed(read_notes(anchor))
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {anchor}: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    report = check_witnessed(document, witnessed, verifier)
    for problem in report.problems:
        typer.echo(f"BROKEN {problem}")
    for chain in report.unwitnessed:
        typer.echo(f"not witnessed: {chain} has no checkpoint in {anchor}")
    for where in report.witnessed:
        typer.echo(f"consistent with the witnessed checkpoint: {where}")
    return report.ok


def _existing(path: Path | None) -> Path | None:
    return path if path is not None and path.exists() else None


def ledger_worker(
    loglevel: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run the ledger worker that chains and checkpoints every accepted event."""
    from services.intake.ledger.worker import run_worker  # its clients only when it runs

    run_worker(LedgerSettings(), loglevel)


def _print_result(result: VerifyResult) -> None:
    shown = [r for r in result.chains if r.entries or r.events or not r.ok]
    for report in shown:
        status = "OK" if report.ok else "BROKEN"
        line = (
            f"{status:6} {report.chain}: {report.entries} entries, {report.events} events, "
            f"anchored {report.anchored_size} by {report.checkpoints} checkpoint(s)"
        )
        if report.pending:
            line += f", {report.pending} not chained yet"
        if report.duplicates_ignored:
            line += f", {report.duplicates_ignored} exact duplicate entries ignored"
        typer.echo(line)
        if report.problem is not None:
            typer.echo(f"       first broken entry: {report.problem}")
    for bad in result.unreadable:
        typer.echo(f"BROKEN unreadable record {bad}")
    if result.subject is not None:
        _print_subject(result)
    if result.ok:
        empty = len(result.chains) - len(shown)
        typer.echo(f"OK: {len(shown)} chain(s) verified" + (f" ({empty} empty)" if empty else ""))
    else:
        typer.echo(f"FAILED: first broken entry: {result.first_problem}")


def _print_subject(result: VerifyResult) -> None:
    found = 0
    for report in result.chains:
        for entry in report.subject_entries:
            found += 1
            anchored = "anchored" if entry.seq < report.anchored_size else "not yet checkpointed"
            verdict = "verified" if report.ok else "in a BROKEN chain"
            typer.echo(
                f"subject {result.subject}: {entry.type} {entry.id} at {entry.chain} "
                f"seq {entry.seq} offset {entry.offset}: {verdict}, {anchored}"
            )
    if not found:
        typer.echo(f"subject {result.subject}: no chained events")


def _print_trail(report: TrailReport) -> None:
    for problem in report.problems:
        typer.echo(f"BROKEN {problem}")
    for where in report.unanchored:
        typer.echo(f"not yet checkpointed: {where}")
    verdict = "OK" if report.ok else "FAILED"
    typer.echo(
        f"{verdict}: trail of {report.subject}: {report.events} event(s), "
        f"{report.anchored} under a signed checkpoint"
    )
