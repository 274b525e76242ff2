"""The summary page in a real browser: headless Chromium against a real collector.

The collector runs on SQLite and is seeded through the ingest API with a few days
of runs of 12 jobs on 3 hosts (tests/e2e/seed.py). A person logs in through the
form and reads every job's state from the page; clicks into a job, a run, the
filters and the pages of history; pauses and resumes a job with the page's button.
Screenshots land in test-artifacts/ for a person to look at.

Chromium is Debian's (/usr/bin/chromium, installed by scripts/system-deps);
without it these tests fail, they never skip.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    expect,
    sync_playwright,
)
from smartcron.collector.db import tables
from sqlalchemy import create_engine, insert

from tests.e2e.seed import EXPECTED, SCRIPT, seed
from tests.support.service import ADMIN_PASSWORD, Service, start_collector

CHROMIUM = Path(os.environ.get("SMARTCRON_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# Over the suite's 120 s: the module's seeding (tests/e2e/seed.py, _steady_now) waits
# up to the longest steady job's last_run_ago (3 minutes) out of a cron tick, and the
# test that sets the module up pays it: at 16:2x UTC every test of the module timed out.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


class Watch:
    """What the browser did that a page must never make it do."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    def dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def console(self, message: ConsoleMessage) -> None:
        # A blocked inline script or style (CSP) shows up here as an error.
        if message.type == "error":
            self.errors.append(message.text)

    def attach(self, context: BrowserContext) -> None:
        context.on("dialog", self.dialog)
        context.on("console", self.console)
        context.on("weberror", lambda error: self.errors.append(str(error.error)))

    def assert_clean(self) -> None:
        dialogs, errors = self.dialogs[:], self.errors[:]
        self.dialogs.clear()
        self.errors.clear()  # one test's trouble is reported once, not by every later test
        assert dialogs == [], f"a script ran: dialogs {dialogs}"
        assert errors == [], f"errors in the browser console: {errors}"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, list[Any]]]:
    tmp = tmp_path_factory.mktemp("page")
    # No alert loop: add_alerts writes the alert centre's rows itself, and the engine
    # would open its own for the seeded failures first, racing it.
    db = f"sqlite:///{tmp / 'collector.db'}"
    with start_collector(db, tmp, extra=("--alert-every", "0")) as service:
        reports = seed(service)
        yield service, reports


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"{CHROMIUM} not found: the page tests need Debian's Chromium "
            "(as root: scripts/system-deps, or apt-get install -y chromium)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def watch() -> Watch:
    return Watch()


@pytest.fixture(scope="module")
def context(
    browser: Browser, seeded: tuple[Service, list[Any]], watch: Watch
) -> Iterator[BrowserContext]:
    """A desktop browser, logged in through the form."""
    service, _ = seeded
    ARTIFACTS.mkdir(exist_ok=True)
    made = browser.new_context(base_url=service.url, viewport=DESKTOP)  # type: ignore[arg-type]
    made.set_default_timeout(10_000)
    watch.attach(made)
    page = made.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_label("User").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{service.url}/")
    page.close()
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext, watch: Watch) -> Iterator[Page]:
    opened = context.new_page()
    yield opened
    opened.close()
    watch.assert_clean()


def job_row(page: Page, job: str, host: str) -> Any:
    rows = page.locator("table.jobs tbody tr")
    found = rows.filter(has=page.locator("td.job > a", has_text=re.compile(f"^{job}$"))).filter(
        has=page.locator("td.host", has_text=re.compile(f"^{host}$"))
    )
    expect(found).to_have_count(1)
    return found


def started_times(page: Page) -> list[str]:
    return page.locator("table.runs tbody td.started a").all_inner_texts()


def test_summary_shows_every_job_state_and_why(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("4 jobs need attention")
    expect(page.locator("table.jobs tbody tr")).to_have_count(len(EXPECTED))
    for (job, host), (state, why) in EXPECTED.items():
        row = job_row(page, job, host)
        badge = row.locator("td.state .badge")
        expect(badge).to_be_visible()
        expect(badge).to_have_text(state)
        reason = row.locator(".reason")
        expect(reason).to_be_visible()
        expect(reason).to_contain_text(why)
        # Times in a reason read as a person says them, not as a database stores them.
        assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", reason.inner_text()), reason.inner_text()
    # The worst first: failing, late, degraded, paused, then the healthy.
    badges = page.locator("table.jobs tbody td.state .badge").all_inner_texts()
    order = ["failing", "late", "running", "degraded", "paused", "healthy"]
    assert badges == sorted(badges, key=order.index), badges

    expect(job_row(page, "feed_import", "web1").locator("td.fact").first).to_contain_text("failed")
    expect(job_row(page, "queue_drain", "web2").locator(".overdue")).to_have_text(
        re.compile(r"^overdue \d+ (h|min); next in \d+ (s|min|h)$")
    )
    expect(job_row(page, "newsletter_send", "web1").locator("td.fact").nth(1)).to_have_text(
        "paused"
    )
    expect(job_row(page, "cache_warm", "web2").locator("td.fact").nth(1)).to_have_text(
        "no schedule"
    )
    # A healthy job's next run is ahead, or due now (its report comes at its end): never
    # a time in the past.
    upcoming = [
        job_row(page, job, host).locator("td.fact").nth(1).inner_text()
        for (job, host), (state, _) in EXPECTED.items()
        if state == "healthy" and job != "cache_warm"
    ]
    assert all(
        re.fullmatch(r"in \d+ (s|min|h)|due now, awaiting its report", t) for t in upcoming
    ), upcoming
    assert any(t.startswith("in ") for t in upcoming), upcoming
    # Sparklines are images with a text alternative; the legend explains them.
    sparks = page.locator("table.jobs svg.spark")
    expect(sparks).to_have_count(len(EXPECTED))
    for label in [s.get_attribute("aria-label") or "" for s in sparks.all()]:
        assert re.match(r"durations of the last \d+ runs", label), label
    expect(page.locator("dl.legend")).to_contain_text("one bar per run")
    # The page reloads itself; nothing on it needs JavaScript.
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(1)
    expect(page.locator("script")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "summary.png", full_page=True)


def test_job_page_history_chart_and_attempts(page: Page, seeded: tuple[Service, list[Any]]) -> None:
    _, reports = seeded
    page.goto("/")
    job_row(page, "payment_reconcile", "db1").get_by_role("link", name="payment_reconcile").click()
    expect(page).to_have_url(re.compile(r"/jobs/payment_reconcile$"))
    card = page.locator("section.card")
    expect(card.locator(".badge")).to_have_text("failing")
    expect(card.locator(".reason")).to_contain_text("last run failed")
    expect(card).to_contain_text("*/30 * * * *")

    chart = page.locator("figure.chart")
    expect(chart.locator("svg.bars")).to_have_attribute("aria-label", re.compile("last 45 runs"))
    expect(chart.locator("svg.bars rect")).to_have_count(45)
    expect(chart.locator("svg.bars rect.bad")).to_have_count(3)
    # Oldest left: the newest run, the failed one with three attempts, is the last bar.
    expect(chart.locator("svg.bars rect").last).to_have_class("bad")
    expect(chart.locator("polyline.mem")).to_have_count(1)
    expect(chart.locator("ul.legend")).to_contain_text("peak memory")

    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(45)
    expect(page.get_by_role("link", name="Older runs →")).to_have_count(0)
    last = [r for r in reports if r["job"] == "payment_reconcile"][-1]
    newest = rows.filter(has=page.locator(f'a[href="/runs/{last["run_id"]}"]'))
    expect(newest.locator("td").nth(2)).to_have_text("failed")
    expect(newest.locator("td").nth(5)).to_have_text("3")
    page.screenshot(path=ARTIFACTS / "job.png", full_page=True)

    newest.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/runs/{last['run_id']}$"))
    expect(page.locator("#run-title")).to_contain_text("failed")
    attempts = page.locator("table.runs tbody tr")
    expect(attempts).to_have_count(3)
    for i in range(3):
        expect(attempts.nth(i).locator("td").nth(3)).to_have_text("failed")
        expect(attempts.nth(i).locator("td").nth(4)).to_have_text("2")
    expect(page.get_by_label("stderr")).to_contain_text("connection to 10.0.0.5:5432 refused")
    expect(page.get_by_label("stdout")).to_contain_text("payment_reconcile: processed")
    # A run does not change: its page holds still.
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "run.png", full_page=True)


def test_history_is_newest_first(page: Page) -> None:
    page.goto("/jobs/payment_reconcile")
    shown = started_times(page)
    assert shown == sorted(shown, reverse=True), shown


def test_output_and_command_are_shown_never_run(
    page: Page, seeded: tuple[Service, list[Any]], watch: Watch
) -> None:
    _, reports = seeded
    last = [r for r in reports if r["job"] == "html_digest"][-1]
    page.goto(f"/runs/{last['run_id']}")
    expect(page.get_by_label("stdout")).to_contain_text(SCRIPT)
    expect(page.get_by_label("stderr")).to_contain_text(f"template had {SCRIPT}")
    expect(page.locator("dl.facts code").first).to_be_visible()
    expect(page.locator("section.card")).to_contain_text("<img src=x onerror=alert(2)>")
    expect(page.locator("script")).to_have_count(0)
    expect(page.locator("img")).to_have_count(0)
    page.goto("/jobs/html_digest")
    expect(page.locator("section.card")).to_contain_text("<img src=x onerror=alert(2)>")
    expect(page.locator("img")).to_have_count(0)
    assert watch.dialogs == []


def test_filters_and_older_runs(page: Page) -> None:
    page.goto("/jobs/sitemap_build")
    expect(page.locator("section.card")).to_have_count(2)
    expect(page.locator("table.runs tbody tr")).to_have_count(50)
    page.get_by_label("Host").select_option("web2")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"host=web2"))
    expect(page.locator("table.runs tbody tr")).to_have_count(36)
    hosts = page.locator("table.runs tbody tr td:nth-child(2)").all_inner_texts()
    assert set(hosts) == {"web2"}, hosts

    page.goto("/jobs/search_reindex")
    page.get_by_label("Status").select_option("timeout")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=timeout"))
    statuses = page.locator("table.runs tbody tr td:nth-child(3)")
    expect(statuses).to_have_count(3)
    assert set(statuses.all_inner_texts()) == {"timeout"}
    expect(page.get_by_label("Status")).to_have_value("timeout")

    page.goto("/jobs/vend_sync")
    first_page = page.locator("table.runs tbody td.started a")
    expect(first_page).to_have_count(50)
    seen = {a.get_attribute("href") for a in first_page.all()}
    page.get_by_role("link", name="Older runs →").click()
    expect(page).to_have_url(re.compile(r"cursor=\d+"))
    second_page = page.locator("table.runs tbody td.started a")
    expect(second_page).to_have_count(10)
    older = {a.get_attribute("href") for a in second_page.all()}
    assert not seen & older, "a run shows on both pages"
    expect(page.get_by_role("link", name="Older runs →")).to_have_count(0)
    page.get_by_role("link", name="← Newest runs").click()
    expect(page.locator("table.runs tbody td.started a")).to_have_count(50)


def test_summary_filters_with_the_form_and_the_counts(page: Page) -> None:
    page.goto("/")
    rows = page.locator("table.jobs tbody tr")
    page.locator("form.filters").get_by_label("State").select_option("failing")
    page.locator("form.filters").get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"state=failing"))
    failing = sorted(job for (job, _), (state, _) in EXPECTED.items() if state == "failing")
    expect(rows).to_have_count(len(failing))
    assert sorted(page.locator("td.job > a").all_inner_texts()) == failing
    # The counts on top stay the whole fleet's.
    expect(page.get_by_role("heading", level=1)).to_have_text("4 jobs need attention")

    page.get_by_role("link", name="Clear").click()
    expect(rows).to_have_count(len(EXPECTED))
    page.locator("form.filters").get_by_label("Name").fill("sitemap")
    page.locator("form.filters").get_by_label("Host").fill("web2")
    page.locator("form.filters").get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(job_row(page, "sitemap_build", "web2")).to_be_visible()
    expect(page.locator("form.filters").get_by_label("Name")).to_have_value("sitemap")
    page.screenshot(path=ARTIFACTS / "summary-filtered.png", full_page=True)

    page.locator("ul.counts").get_by_role("link", name=re.compile("late")).click()
    expect(page).to_have_url(re.compile(r"/\?state=late$"))
    expect(rows).to_have_count(1)
    expect(job_row(page, "queue_drain", "web2")).to_be_visible()


def test_pause_and_resume_with_the_page_button(
    page: Page, seeded: tuple[Service, list[Any]]
) -> None:
    service, _ = seeded
    page.goto("/jobs/vend_sync")
    card = page.locator("section.card")
    expect(card.locator(".badge")).to_have_text("healthy")
    expect(card.locator('input[name="csrf_token"]')).to_have_attribute(
        "value", re.compile(r"^\S{16,}$")
    )
    card.get_by_role("button", name="Pause on web1").click()
    expect(page).to_have_url(re.compile(r"/jobs/vend_sync$"))
    expect(card.locator(".badge")).to_have_text("paused")
    expect(card.locator(".reason")).to_contain_text("paused by admin")
    page.goto("/")
    expect(job_row(page, "vend_sync", "web1").locator(".badge")).to_have_text("paused")
    page.goto("/jobs/vend_sync")
    card.get_by_role("button", name="Resume on web1").click()
    expect(card.locator(".badge")).to_have_text("healthy")
    expect(card.get_by_role("button", name="Pause on web1")).to_be_visible()
    # The same form without its CSRF token is refused, session cookie or not.
    forged = page.request.post(f"{service.url}/jobs/vend_sync/action",
                               form={"action": "pause", "host": "web1"})  # fmt: skip
    assert forged.status == 403, forged.text()
    page.reload()
    expect(card.locator(".badge")).to_have_text("healthy")


def test_phone(
    browser: Browser, context: BrowserContext, seeded: tuple[Service, list[Any]], watch: Watch
) -> None:
    service, _ = seeded
    phone = browser.new_context(
        base_url=service.url,
        storage_state=context.storage_state(),  # the desktop's session
        viewport=PHONE,  # type: ignore[arg-type]
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    watch.attach(phone)
    try:
        page = phone.new_page()
        page.goto("/")
        expect(page.get_by_role("heading", level=1)).to_have_text("4 jobs need attention")
        assert_fits(page)
        for (job, host), (state, _) in EXPECTED.items():
            row = job_row(page, job, host)
            expect(row.locator(".badge")).to_have_text(state)
            expect(row.locator(".on-host")).to_have_text(f" on {host}")
            expect(row.locator(".reason")).to_be_visible()
        page.screenshot(path=ARTIFACTS / "summary-phone.png", full_page=True)
        page.goto("/jobs/payment_reconcile")
        assert_fits(page)
        page.screenshot(path=ARTIFACTS / "job-phone.png")
        page.goto("/hosts")
        assert_fits(page)
        expect(page.locator("table.runs tbody tr")).to_have_count(3)
        page.goto("/load")
        assert_fits(page)
        page.screenshot(path=ARTIFACTS / "load-phone.png", full_page=True)
        page.goto("/alerts")
        assert_fits(page)
    finally:
        phone.close()
    watch.assert_clean()


def assert_fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways on a phone: {width}px"


def test_api_docs_loads_nothing_from_outside(page: Page, seeded: tuple[Service, list[Any]]) -> None:
    service, _ = seeded
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    answer = page.goto("/api/docs")
    assert answer is not None and answer.status == 200
    expect(page.get_by_role("heading", level=2, name="POST /api/v1/runs")).to_be_visible()
    expect(page.locator("script")).to_have_count(0)
    assert asked and all(url.startswith(f"{service.url}/") for url in asked), asked
    page.screenshot(path=ARTIFACTS / "api-docs.png", full_page=True)


def test_an_address_that_does_not_exist_is_a_page(page: Page, watch: Watch) -> None:
    answer = page.goto("/jobs/payment_reconcile/nothing-here")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not Found")
    expect(page.get_by_role("link", name="Back to the jobs")).to_be_visible()
    # The browser notes the page's own 404 in its console; nothing else may be there.
    expected = "Failed to load resource: the server responded with a status of 404 (Not Found)"
    assert watch.errors == [expected], watch.errors
    watch.errors.clear()
    page.screenshot(path=ARTIFACTS / "not-found.png")


def test_job_page_schedule_next_runs_and_missed_slots(page: Page) -> None:
    page.goto("/jobs/queue_drain")  # */5, its last run three hours ago
    card = page.locator("section.card")
    expect(card.locator("dd.schedule")).to_contain_text("*/5 * * * *")
    expect(card.locator("dd.schedule .words")).to_have_text("Every 5 minutes")
    expect(card.locator("dd.zone")).to_have_text("UTC")
    upcoming = card.locator("ol.upcoming li")
    expect(upcoming).to_have_count(5)
    times = upcoming.all_inner_texts()
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:[0-5][05] UTC", t) for t in times), times
    assert times == sorted(times), times
    timeline = card.locator(".run-timeline")
    expect(timeline.locator("svg.timeline rect")).to_have_count(30)  # one tick a run
    # Three hours without a run: 36 slots, less the latest, which is the state's to judge.
    missed = timeline.locator("svg.timeline path.missed")
    count = missed.count()
    assert 33 <= count <= 36, count
    expect(timeline.locator(".missed-count")).to_contain_text(f"{count} of ")
    expect(timeline.locator("ul.missed li")).to_have_count(10)
    card.screenshot(path=ARTIFACTS / "job-schedule.png")

    page.goto("/jobs/payment_reconcile")  # on schedule: no slot missed
    card = page.locator("section.card")
    expect(card.locator("dd.schedule .words")).to_have_text("Every 30 minutes")
    expect(card.locator(".missed-count")).to_contain_text("No slot missed")
    expect(card.locator("svg.timeline path.missed")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "job-with-schedule.png", full_page=True)


def test_the_load_map_shows_the_top_of_the_hour(page: Page) -> None:
    page.goto("/")
    page.locator("header nav").get_by_role("link", name="Load").click()
    expect(page).to_have_url(re.compile(r"/load$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Schedule load")
    expect(page.locator("svg.load")).to_be_visible()
    # Eight at :00 of an even hour (vend_sync, feed_import, html_digest, image_resize,
    # queue_drain, payment_reconcile, search_reindex, thumbnail_render) and at every :30
    # (search_reindex out, sitemap_build on two hosts in); newsletter_send is paused and
    # cache_warm has no schedule.
    first = page.locator("table.busiest tbody tr").first
    expect(first.locator("td").nth(0)).to_have_text(
        re.compile(r"\d{4}-\d\d-\d\d \d\d:(00|30):00 UTC")
    )
    expect(first.locator("td").nth(1)).to_have_text("8")
    shown = page.locator("table.busiest tbody tr td:first-child").all_inner_texts()
    assert all(re.search(r":(00|30):00 UTC$", minute) for minute in shown), shown
    expect(page.locator("svg.load rect.l4").first).to_be_visible()
    hosts = page.locator("table.per-host tbody tr td:first-child").all_inner_texts()
    assert sorted(hosts) == ["db1", "web1", "web2"], hosts
    page.screenshot(path=ARTIFACTS / "load.png", full_page=True)
    page.locator("table.per-host").get_by_role("link", name="db1").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Schedule load on db1")
    expect(page.locator("table.per-host")).to_have_count(0)


def add_alerts(service: Service) -> dict[str, int]:
    """Alerts as the engine writes them, and a maintenance window, straight into the
    collector's database (the engine is another engineer's part)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = {
        "payment": ("payment_reconcile", "db1", "failed", "critical", "last run failed (exit 2)"),
        "queue": ("queue_drain", "web2", "missed", "warning", "no run since the one due 3 h ago"),
        "reindex": ("search_reindex", "db1", "timeout", "high", "timed out after 600 s"),
    }
    engine = create_engine(service.db_url)
    made = {}
    with engine.begin() as connection:
        for n, (name, (job, host, rule, severity, summary)) in enumerate(rows.items()):
            at = now - dt.timedelta(minutes=30 - n)
            key = connection.execute(insert(tables.alerts).values(
                job=job, host=host, rule=rule, severity=severity, summary=summary,
                detail=summary, opened_at=at, instant=at, last_seen_at=at, repeats=n,
                open_key=1)).inserted_primary_key  # fmt: skip
            assert key is not None
            made[name] = int(key[0])
        connection.execute(insert(tables.maintenance).values(
            job="queue_drain", starts_at=now - dt.timedelta(hours=1),
            ends_at=now + dt.timedelta(hours=2), reason="queue migration", created_by="ops",
            created_at=now))  # fmt: skip
    engine.dispose()
    return made


def test_the_alert_centre_acknowledges_and_resolves(
    page: Page, seeded: tuple[Service, list[Any]]
) -> None:
    service, _ = seeded
    made = add_alerts(service)
    page.goto("/")
    page.locator("ul.counts").get_by_role("link", name="3 active alerts").click()
    expect(page).to_have_url(re.compile(r"/alerts$"))
    rows = page.locator("table.alerts tbody tr")
    expect(rows).to_have_count(3)
    queue = page.locator(f"#alert-{made['queue']}")
    expect(queue.locator(".silenced")).to_contain_text(
        re.compile(r"silenced by maintenance window #\d+ \(queue migration\) until ")
    )
    payment = page.locator(f"#alert-{made['payment']}")
    expect(payment.locator(".badge").first).to_have_text("open")
    expect(payment.locator(".badge.sev-critical")).to_have_text("critical")
    page.screenshot(path=ARTIFACTS / "alerts.png", full_page=True)

    payment.get_by_role("button", name=f"Acknowledge alert {made['payment']}").click()
    expect(page).to_have_url(re.compile(r"/alerts$"))
    expect(payment.locator(".badge").first).to_have_text("acknowledged")
    expect(payment.locator(".who-ack")).to_contain_text("acknowledged by admin")
    expect(payment.get_by_role("button", name=re.compile("Acknowledge"))).to_have_count(0)

    page.get_by_label("Severity").select_option("high")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"severity=high"))
    expect(rows).to_have_count(1)
    reindex = page.locator(f"#alert-{made['reindex']}")
    reindex.get_by_role("button", name=f"Resolve alert {made['reindex']}").click()
    expect(page).to_have_url(re.compile(r"/alerts\?severity=high$"))  # back where it was
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("No alerts match these filters.")
    page.get_by_label("State").select_option("all")
    page.get_by_role("button", name="Filter").click()
    expect(reindex.locator(".who-resolved")).to_contain_text("resolved by admin")
    page.screenshot(path=ARTIFACTS / "alerts-resolved.png", full_page=True)

    forged = page.request.post(f"{service.url}/alerts/{made['queue']}/resolve",
                               form={"next": "/alerts"})  # fmt: skip
    assert forged.status == 403, forged.text()
    page.goto("/jobs/queue_drain")
    expect(page.locator("section.card .silenced")).to_contain_text("queue migration")
    expect(page.locator("section.card").get_by_role("link", name="1 open alert")).to_be_visible()
    page.goto("/")
    expect(page.locator("ul.counts li.alerts-count")).to_have_text("2 active alerts")
