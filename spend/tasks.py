"""Celery tasks of spend control: thin wrappers that call ``spend.services``."""

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from spend import services


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=3, acks_late=True)
def evaluate_limits() -> int:
    """Evaluate every limit once and resume stalled deliveries (beat runs it each
    SPEND_EVALUATION_INTERVAL_SECONDS)."""
    services.resume_stalled()
    return services.evaluate_all()


@shared_task(bind=True, acks_late=True, max_retries=None)
def deliver(self, delivery_id: int) -> None:
    """Deliver one alert, retrying with exponential backoff until it succeeds or gives up."""
    try:
        services.deliver(delivery_id)
    except (services.DeliveryError, DatabaseError) as exc:
        if self.request.retries >= settings.SPEND_DELIVERY_MAX_RETRIES:
            services.give_up(delivery_id)
            return
        base = settings.SPEND_DELIVERY_BACKOFF_SECONDS
        countdown = min(base * 2**self.request.retries, settings.SPEND_DELIVERY_BACKOFF_MAX_SECONDS)
        services.retry_later(delivery_id, countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc
