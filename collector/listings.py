"""The query strings of the two lists that the API and the page both show: the jobs
(/api/v1/jobs, the summary page) and the alerts (/api/v1/alerts, the alert centre).
For each, one FastAPI dependency reads and checks the filters and the cursor, and one
method turns them into a page, so that the API and the page cannot drift apart."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy import Engine

from . import alert_centre, fleet
from .alerting.silence import Silence, silences_for
from .errors import ApiError


@dataclass(frozen=True)
class JobListing:
    """The filters and cursor of one request for a page of jobs ('' when not given)."""

    state: str = ""
    host: str = ""
    tag: str = ""
    q: str = ""
    cursor: str = ""

    def filters(self) -> dict[str, str]:
        """The filters as given, for the page's form and its next/previous links."""
        return {"state": self.state, "host": self.host, "tag": self.tag, "q": self.q}

    def wanted(self) -> fleet.JobFilter:
        """The filter fleet.list_jobs takes; an unknown state is a 422 naming it."""
        try:
            states = fleet.parse_states(self.state)
        except fleet.FilterError as error:
            raise ApiError(422, str(error)) from None
        return fleet.JobFilter(states, self.host or None, self.q or None, self.tag or None)

    def page(self, engine: Engine, limit: int, before: str | None = None) -> fleet.JobPage:
        """The page these filters and this cursor (or `before`) name; a cursor this API
        did not hand out is a 422."""
        wanted = self.wanted()
        try:
            return fleet.list_jobs(engine, wanted, limit, self.cursor or None, before=before)
        except fleet.FilterError as error:
            raise ApiError(422, str(error)) from None


def job_listing(
    state: Annotated[str | None, Query(max_length=100)] = None,
    host: Annotated[str | None, Query(max_length=255)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> JobListing:
    return JobListing(state or "", host or "", tag or "", q or "", cursor or "")


JobQuery = Annotated[JobListing, Depends(job_listing)]


@dataclass(frozen=True)
class AlertPage:
    """A page of alerts, the next page's cursor (None: the last) and what silences
    each (job, host) of the page now."""

    alerts: list[dict[str, Any]]
    next_cursor: str | None
    silenced: dict[tuple[str, str], list[Silence]]


@dataclass(frozen=True)
class AlertListing:
    """The filters and cursor of one request for a page of alerts ('' when not given)."""

    state: str = ""
    rule: str = ""
    severity: str = ""
    host: str = ""
    job: str = ""
    cursor: str = ""

    def filters(self) -> dict[str, str]:
        return {"state": self.state, "rule": self.rule, "severity": self.severity,
                "host": self.host, "job": self.job}  # fmt: skip

    def page(
        self, engine: Engine, limit: int, now: dt.datetime, default_states: tuple[str, ...] = ()
    ) -> AlertPage:
        """The alerts that match, newest first; `default_states` when no state is given
        (the page: the active ones; the API: all). A bad filter or cursor is a 422."""
        try:
            wanted = alert_centre.parse_filter(self.state, self.rule, self.severity,
                                               self.host, self.job, default_states)  # fmt: skip
            found, next_cursor = alert_centre.list_alerts(engine, wanted, limit,
                                                          self.cursor or None)  # fmt: skip
        except alert_centre.FilterError as error:
            raise ApiError(422, str(error)) from None
        said = silences_for(engine, [(alert["job"], alert["host"]) for alert in found], now)
        return AlertPage(found, next_cursor, said)


def alert_listing(
    state: Annotated[str | None, Query(max_length=100)] = None,
    rule: Annotated[str | None, Query(max_length=400)] = None,
    severity: Annotated[str | None, Query(max_length=100)] = None,
    host: Annotated[str | None, Query(max_length=255)] = None,
    job: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> AlertListing:
    return AlertListing(state or "", rule or "", severity or "", host or "", job or "",
                        cursor or "")  # fmt: skip


AlertQuery = Annotated[AlertListing, Depends(alert_listing)]
