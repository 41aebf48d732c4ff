"""Reads for the upstreams settings page."""

from django.db.models import QuerySet

from upstreams.models import Upstream


def upstreams(org) -> QuerySet[Upstream]:
    """The organisation's upstreams, by name."""
    return Upstream.objects.filter(org=org)


def upstream(org, pk: int) -> Upstream | None:
    """One upstream of the organisation, or None."""
    return Upstream.objects.filter(org=org, pk=pk).first()
