"""The analytics service's published contracts (issue 23).

``ReportReady``: a report run (scheduled or asked for) has its result; the
notification service mails its recipients a summary and where to fetch the CSV and
the chart. A scheduled report is run once per period (its run's key), so this is
published once per report and period however often the schedule fires.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar

from isles import Event

AGGREGATE = "report_run"


class ReportReady(Event):
    event_type: ClassVar[str] = "analytics.ReportReady"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID  # the run
    report_id: uuid.UUID
    company_id: uuid.UUID
    report_name: str
    period_start: date
    period_end: date
    recipients: list[uuid.UUID]  # users
    summary: str  # the result as a plain-text table (what the mail shows)
    csv_path: str  # where the run's CSV is fetched (relative to the gateway)
    chart_path: str  # and its chart (SVG)
