"""Organisation A's generated month and organisation B's upstream pointing at A's live server."""

import datetime as dt

import pytest

from adminapi.services import create_admin_key
from console.services import create_organization
from tests.adminapi import generated
from upstreams import services

NOVEMBER = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@pytest.fixture
def month(client, transactional_db):
    """Organisation A with the generated month (late rows and duplicates), and the records
    that count."""
    alpha = create_organization(slug="alpha", name="Alpha")
    batches = generated.generate(seed=41, count=600)
    generated.send(client, alpha, batches)
    return alpha, generated.unique(batches)


@pytest.fixture
def upstream(month, live_server):
    alpha, _ = month
    beta = create_organization(slug="beta", name="Beta")
    return services.create_upstream(
        beta,
        name="Alpha's Meterboard",
        base_url=live_server.url,
        key=create_admin_key(alpha, "connector")[1],
        start=NOVEMBER,
        actor=None,
    )
