"""The management-review report (ISO 9001:2015 §9.3 inputs) as one self-contained HTML page.

Pure rendering: figures in, HTML out; charts are inline SVG, no script, no external file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

PALETTE = ("#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd")


@dataclass(frozen=True)
class ReportData:
    agency: str
    period: str
    generated_at: str
    dossiers_total: Mapping[str, Any]
    dossiers_by_month: Sequence[Mapping[str, Any]]
    in_progress: Mapping[str, Any]
    objectives: Sequence[Mapping[str, Any]]
    satisfaction_by_month: Sequence[Mapping[str, Any]]
    satisfaction_total: Mapping[str, Any]
    complaints_by_month: Sequence[Mapping[str, Any]]
    complaints_total: Mapping[str, Any]
    capa: Mapping[str, Any]
    audits: Mapping[str, Any]
    score_by_month: Sequence[Mapping[str, Any]]
    score_total: Mapping[str, Any] = field(default_factory=dict)
    # Timeliness of updates over the period (/v1/kpi/update-timeliness/by-agency).
    timeliness_total: Mapping[str, Any] = field(default_factory=dict)
    # The process control sheets over the period (/v1/kpi/steps/by-unit and
    # /v1/kpi/time-lost/by-unit): time per unit, late steps, where late dossiers lost time.
    steps_by_unit: Sequence[Mapping[str, Any]] = ()
    time_lost_by_unit: Sequence[Mapping[str, Any]] = ()
    # Document control: documents issued over the period (/v1/kpi/documents/by-agency) and
    # the ISO processes overdue for revision at the cut-off (/v1/kpi/process-documents/overdue).
    documents_total: Mapping[str, Any] = field(default_factory=dict)
    processes_overdue: Sequence[Mapping[str, Any]] = ()
    # The procedure register (/v1/kpi/procedures/not-in-force, statutory-due and
    # on-time-statutory, per month).
    not_in_force: Sequence[Mapping[str, Any]] = ()
    statutory_due_by_month: Sequence[Mapping[str, Any]] = ()
    on_time_statutory_by_month: Sequence[Mapping[str, Any]] = ()
    in_progress_at: str = ""  # the cut-off of the figures at an instant
    known: str = "as_of"  # as of the cut-off, or "now": as known now (docs/kpis.md)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _pct(numerator: Any, denominator: Any) -> str:
    return "–" if not denominator else f"{100.0 * float(numerator) / float(denominator):.1f}%"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(headers)}">no data for this period</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    width: int = 640,
    height: int = 220,
) -> str:
    """Grouped bars, one group per label, one colour per series, with a legend."""
    if not labels:
        return ""
    top = max([1.0, *(float(v) for values in series.values() for v in values)])
    pad_l, pad_b, pad_t = 40, 30, 24
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    group_w = plot_w / len(labels)
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{pad_l}" y="14" font-size="12" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 10}" '
        f'y2="{pad_t + plot_h}" stroke="#999"/>',
        f'<text x="{pad_l - 4}" y="{pad_t + 8}" font-size="10" text-anchor="end">'
        f"{_fmt(top, 0)}</text>",
    ]
    for i, label in enumerate(labels):
        x0 = pad_l + i * group_w + group_w * 0.1
        for j, (name, values) in enumerate(series.items()):
            value = float(values[i]) if i < len(values) and values[i] is not None else 0.0
            h = plot_h * value / top
            parts.append(
                f'<rect x="{x0 + j * bar_w:.1f}" y="{pad_t + plot_h - h:.1f}" '
                f'width="{bar_w * 0.9:.1f}" height="{h:.1f}" fill="{PALETTE[j % 5]}">'
                f"<title>{escape(name)} {escape(label)}: {_fmt(value, 1)}</title></rect>"
            )
        parts.append(
            f'<text x="{x0 + group_w * 0.4:.1f}" y="{height - 12}" font-size="10" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for j, name in enumerate(series):
        x = width - 10 - 110 * (len(series) - j)
        parts.append(
            f'<rect x="{x}" y="4" width="10" height="10" fill="{PALETTE[j % 5]}"/>'
            f'<text x="{x + 14}" y="13" font-size="10">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.kpi{display:inline-block;margin:0 1.5em .5em 0}.kpi b{display:block;font-size:1.4em}
.note{color:#666;font-size:.85em}
"""


def _kpis(items: Sequence[tuple[str, str]]) -> str:
    return "".join(f'<span class="kpi"><b>{v}</b>{escape(k)}</span>' for k, v in items)


def where_time_is_lost(d: ReportData) -> list[str]:
    """Per unit: time spent on its steps, its late steps, and the late dossiers that lost
    their time there (docs/kpis.md, "The process control sheet"), most such dossiers first."""
    lost = {r["unit"]: r for r in d.time_lost_by_unit}
    units = sorted(
        d.steps_by_unit,
        key=lambda r: (-lost.get(r["unit"], {}).get("late_dossiers", 0), -r["late_steps"]),
    )
    return [
        "<h3>Where time is lost</h3>",
        table(
            [
                "Unit",
                "Steps",
                "Average hours",
                "Longest (hours)",
                "Late steps",
                "Late step share",
                "Late dossiers that lost their time here",
                "Hours over the step due time",
            ],
            [
                [
                    r["unit"],
                    r["steps"],
                    r["avg_hours"],
                    r["max_hours"],
                    r["late_steps"],
                    _pct(r["late_steps"], r["steps_with_due"]),
                    lost.get(r["unit"], {}).get("late_dossiers", 0),
                    lost.get(r["unit"], {}).get("hours_overrun", 0.0),
                ]
                for r in units
            ],
        ),
        '<p class="note">From the process control sheets: a step is the time a unit held '
        "the dossier until it handed it over; late when handed over after the step due time "
        "the publisher stated. A late dossier lost its time at the step that overran its due "
        "time most, else at its longest step.</p>",
    ]


def _document_control(d: ReportData) -> list[str]:
    """Section 7: documents issued and their format conformity, ISO processes not revised."""
    docs = d.documents_total
    overdue = [
        [
            r["document"],
            r["process_code"],
            f"{r['procedure']} v{r['version']}",
            r["amended_on"],
            r["due_on"],
            r["revised_on"] or "not revised",
            r["days_overdue"],
        ]
        for r in d.processes_overdue
    ]
    return [
        "<h2>7. Document control</h2>",
        _kpis(
            [
                ("documents issued", _fmt(docs.get("issued", 0))),
                ("checked for format", _fmt(docs.get("checked", 0))),
                ("not conforming", _fmt(docs.get("nonconforming", 0))),
                ("conforming", _pct(docs.get("conforming", 0), docs.get("checked", 0))),
            ]
        ),
        "<h3>ISO processes not revised after their procedure was amended</h3>",
        f'<p class="note">At {escape(d.in_progress_at or d.generated_at)}: each a nonconformity '
        "(docs/kpis.md, Document control).</p>",
        table(
            ["process document", "code", "procedure", "amended on", "due", "revised", "days over"],
            overdue,
        ),
    ]


def _total(rows: Sequence[Mapping[str, Any]], column: str) -> int:
    return sum(int(r.get(column) or 0) for r in rows)


def register_section(d: ReportData) -> list[str]:
    """Dossiers received under a procedure not in force, due dates extended beyond the
    statutory time, and on time against both due times (docs/kpis.md)."""
    due, done = d.statutory_due_by_month, d.on_time_statutory_by_month
    resolved = _total(done, "resolved")
    return [
        "<h3>Procedure register and statutory due time</h3>",
        _kpis(
            [
                (
                    "received under a procedure not in force",
                    _fmt(_total(d.not_in_force, "dossiers")),
                ),
                ("due date extended beyond the statutory time", _fmt(_total(due, "extended_due"))),
                ("extended share", _pct(_total(due, "extended_due"), _total(due, "dossiers"))),
                ("on time (published due time)", _pct(_total(done, "on_time"), resolved)),
                ("on time (statutory due time)", _pct(_total(done, "on_time_statutory"), resolved)),
            ]
        ),
        table(
            ["Month", "Reason", "Dossiers"],
            [[r["month"], r["reason"], r["dossiers"]] for r in d.not_in_force],
        ),
    ]


def render_report(d: ReportData) -> str:
    """The whole report as one HTML document."""
    months = [str(r["month"]) for r in d.dossiers_by_month]
    t, s, c, capa, a = (
        d.dossiers_total,
        d.satisfaction_total,
        d.complaints_total,
        d.capa,
        d.audits,
    )
    sections = [
        f"<h1>Management review — {escape(d.agency)} — {escape(d.period)}</h1>",
        f'<p class="note">ISO 9001:2015 §9.3 inputs, generated {escape(d.generated_at)} from '
        "the QMS Trail metrics store. Definitions: docs/kpis.md.</p>",
        "<h2>1. Quality objectives</h2>",
        table(
            [
                "Indicator",
                "Period",
                "Target",
                "Comparison",
                "Measured",
                "Met (measured)",
                "Reported",
                "Met (reported)",
            ],
            [
                [
                    o["indicator"],
                    o["period"],
                    o["target"],
                    o["comparison"],
                    o.get("measured_actual"),
                    o.get("measured_met"),
                    o.get("reported_actual"),
                    o.get("reported_met"),
                ]
                for o in d.objectives
            ],
        ),
        "<h2>2. Process performance: dossiers</h2>",
        _kpis(
            [
                ("received", _fmt(t.get("received", 0))),
                ("resolved", _fmt(t.get("resolved", 0))),
                ("on time", _pct(t.get("on_time", 0), t.get("resolved", 0))),
                ("late", _fmt(t.get("late", 0))),
                ("online share", _pct(t.get("received_online", 0), t.get("received", 0))),
                (
                    "level 3 (partly online)",
                    _pct(t.get("received_online_l3", 0), t.get("received", 0)),
                ),
                (
                    "level 4 (full online)",
                    _pct(t.get("received_online_l4", 0), t.get("received", 0)),
                ),
                ("at the counter", _pct(t.get("received_counter", 0), t.get("received", 0))),
                ("by post", _pct(t.get("received_postal", 0), t.get("received", 0))),
                ("in progress", _fmt(d.in_progress.get("in_progress", 0))),
                (
                    "waiting for supplement",
                    _fmt(d.in_progress.get("waiting_for_supplement", 0)),
                ),
                ("overdue", _fmt(d.in_progress.get("overdue", 0))),
            ]
        ),
        f'<p class="note">In progress, waiting for supplement (clock stopped) and overdue at '
        f"{escape(d.in_progress_at or d.generated_at)}, "
        + (
            "as known now (due times revised later count)."
            if d.known == "now"
            else "as of then (only events dated by then count)."
        )
        + "</p>",
        "<h3>Timeliness of updates</h3>",
        _kpis(
            [
                ("events recorded", _fmt(d.timeliness_total.get("updates", 0))),
                ("median lag (hours)", _fmt(d.timeliness_total.get("median_lag_hours"))),
                ("90th percentile lag (hours)", _fmt(d.timeliness_total.get("p90_lag_hours"))),
                (
                    "recorded over 1 working day late",
                    _pct(
                        d.timeliness_total.get("late_updates", 0),
                        d.timeliness_total.get("calendared_updates", 0),
                    ),
                ),
            ]
        ),
        *where_time_is_lost(d),
        *register_section(d),
        bar_chart(
            "Dossiers per month",
            months,
            {
                "received": [r["received"] for r in d.dossiers_by_month],
                "on time": [r["on_time"] for r in d.dossiers_by_month],
                "late": [r["late"] for r in d.dossiers_by_month],
            },
        ),
        table(
            [
                "Month",
                "Received",
                "Resolved",
                "On time",
                "Late",
                "Online",
                "Level 3",
                "Level 4",
                "Supplement req.",
                "Apologies",
            ],
            [
                [
                    r["month"],
                    r["received"],
                    r["resolved"],
                    r["on_time"],
                    r["late"],
                    r["received_online"],
                    r.get("received_online_l3", 0),
                    r.get("received_online_l4", 0),
                    r["supplement_requested"],
                    r["apologies"],
                ]
                for r in d.dossiers_by_month
            ],
        ),
        "<h2>3. Customer satisfaction and feedback</h2>",
        _kpis(
            [
                ("ratings", _fmt(s.get("ratings", 0))),
                ("satisfied", _pct(s.get("satisfied", 0), s.get("ratings", 0))),
                ("complaints filed", _fmt(c.get("filed", 0))),
                ("per 1,000 dossiers", _fmt(c.get("per_1000_dossiers"))),
                ("substantiated", _fmt(c.get("substantiated", 0))),
                ("avg. resolution days", _fmt(c.get("avg_resolution_days"))),
            ]
        ),
        bar_chart(
            "Satisfaction rate per month (%)",
            [str(r["month"]) for r in d.satisfaction_by_month],
            {"satisfied %": [r["satisfaction_rate"] or 0 for r in d.satisfaction_by_month]},
        ),
        bar_chart(
            "Complaints per month",
            [str(r["month"]) for r in d.complaints_by_month],
            {
                "filed": [r["filed"] for r in d.complaints_by_month],
                "resolved": [r["resolved"] for r in d.complaints_by_month],
            },
        ),
        "<h2>4. Nonconformities and corrective actions</h2>",
        f'<p class="note">At {escape(d.in_progress_at or d.generated_at)}, '
        + (
            "as known now (every stored CAPA event counts).</p>"
            if d.known == "now"
            else "as of then (only CAPA events dated by then count).</p>"
        ),
        _kpis(
            [
                ("CAPAs", _fmt(capa.get("capas", 0))),
                ("backlog", _fmt(capa.get("backlog", 0))),
                ("overdue", _fmt(capa.get("overdue", 0))),
                (
                    "first-time effective",
                    _fmt(capa.get("first_time_effectiveness"))
                    + ("%" if capa.get("first_time_effectiveness") is not None else ""),
                ),
                ("recurrences", _fmt(capa.get("recurrences", 0))),
            ]
        ),
        bar_chart(
            "Open CAPAs by age (days)",
            ["0–30", "31–60", "61–90", ">90"],
            {
                "open": [
                    capa.get("age_0_30", 0),
                    capa.get("age_31_60", 0),
                    capa.get("age_61_90", 0),
                    capa.get("age_over_90", 0),
                ]
            },
        ),
        "<h3>Effectiveness: by measurement and by verdict</h3>",
        '<p class="note">By verdict: the auditor\'s latest verification. By measurement: the '
        "nonconformity's own measure (late dossiers of the agency and procedure) followed "
        "over a window after the actions were done (ISO 9001 §10.2.1 d).</p>",
        table(
            [
                "Effective by verdict",
                "Measured",
                "Effective by measurement",
                "Ineffective by measurement",
                "Verdict contradicted",
            ],
            [
                [
                    _fmt(capa.get("effective_by_verdict", 0)),
                    _fmt(capa.get("measured", 0)),
                    _fmt(capa.get("effective_by_measurement", 0)),
                    _fmt(capa.get("ineffective_by_measurement", 0)),
                    _fmt(capa.get("verdict_contradicted", 0)),
                ]
            ],
        ),
        "<h2>5. Audit results</h2>",
        table(
            [
                "Internal audits",
                "External audits",
                "Inspections",
                "On-site inspections",
                "Findings",
                "Major",
                "Minor",
            ],
            [
                [
                    a.get("internal_audits", 0),
                    a.get("external_audits", 0),
                    a.get("inspections", 0),
                    a.get("onsite_inspections", 0),
                    a.get("findings", 0),
                    a.get("major_findings", 0),
                    a.get("minor_findings", 0),
                ]
            ],
        ),
        "<h2>6. Public-service score (Decision 766 spirit)</h2>",
        _kpis([("score", _fmt(d.score_total.get("score")))]),
        bar_chart(
            "Score per month",
            [str(r["month"]) for r in d.score_by_month],
            {"score": [r["score"] or 0 for r in d.score_by_month]},
        ),
        *_document_control(d),
    ]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Management '
        f"review {escape(d.agency)} {escape(d.period)}</title><style>{STYLE}</style>"
        f"</head><body>{''.join(sections)}</body></html>"
    )
