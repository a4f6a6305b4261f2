"""The `notify` flow: reminders to bureaus missing at the deadline, and delivery of the outbox."""

from __future__ import annotations

import datetime as dt
import time

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from config.settings import Settings
from flows.common import database_task, engine_of, filing_year, retrying, settings_for
from flows.period_report import refresh_status
from intake import pipeline
from intake.outbox import DeliveryResult, deliver_pending, queue_reminders
from models.database import upgrade
from models.reporting import deadlines_passed, missing_bureaus


@task(cache_policy=NO_CACHE)
@database_task
def queue_deadline_reminders(settings: Settings, today: dt.date) -> int:
    """One reminder per registered bureau that has not submitted a year whose deadline has passed."""
    engine = engine_of(settings)
    upgrade(settings.database_url_value())
    queued = 0
    for year, due_on in deadlines_passed(engine, today):
        queued += queue_reminders(engine, year, due_on, missing_bureaus(engine, year), settings.operator_list)
    return queued


@task(cache_policy=NO_CACHE)
@database_task
def deliver(settings: Settings, ignore_schedule: bool) -> DeliveryResult:
    """Send what is due in the outbox (everything pending, when asked to retry now), within the time for mail.

    The annotated copies the alerts attach are written first where a crashed intake run left them unwritten.
    """
    engine = engine_of(settings)
    upgrade(settings.database_url_value())
    pipeline.repair_outputs(settings, engine)
    smtp = settings.smtp
    return deliver_pending(
        engine,
        smtp,
        settings.outbox_dir,
        retry_seconds=settings.alert_retry_seconds,
        ignore_schedule=ignore_schedule,
        deadline=time.monotonic() + smtp.budget_seconds,
    )


@flow(name="notify", description="Queue deadline reminders and deliver pending alerts.")
def notify(reminders: bool = True, retry_now: bool = False, data_dir: str | None = None) -> tuple[int, DeliveryResult]:
    """Reminders (when asked) → delivery; returns (reminders queued, delivery result)."""
    settings = settings_for(data_dir)
    today = dt.date.today()
    logger = get_run_logger()
    queued = retrying(queue_deadline_reminders, settings)(settings, today) if reminders else 0
    delivery = retrying(deliver, settings)(settings, retry_now)
    for problem in delivery.problems:
        logger.warning("%s", problem)
    logger.info(
        "催报提醒新增 %d 封；发出 %d 封，失败 %d 封，仍待发送 %d 封",
        queued,
        delivery.sent,
        delivery.failed,
        delivery.pending,
    )
    refresh_status(settings, [filing_year(today)])
    return queued, delivery
