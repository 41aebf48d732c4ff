"""Both storage paths (usage/ingest/store.py) store the same rows: COPY on PostgreSQL, the ORM
elsewhere."""

import pytest
from django.db import connection

from tests.usage.ingest.records import mixed_batch, rec, run, stored
from usage.ingest.store import default_store, store_copy, store_orm
from usage.models import IngestBatch, RequestId, RequestLog

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("nudges")]


# --- both storage paths store the same rows -----------------------------------------------


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_copy_and_orm_paths_store_identical_rows(org, other_org):
    records = mixed_batch()
    known = rec()  # stored before: a duplicate across batches for both
    results = {}
    for target, store in ((org, store_copy), (other_org, store_orm)):
        run(target, known, store=store)
        results[target.slug] = run(target, *records, known, store=store, chunk_size=4)
    copy, orm = results["acme"], results["globex"]
    assert (copy.accepted, copy.duplicates, copy.rejected) == (5, 2, 2)
    assert (copy.accepted, copy.duplicates, copy.rejected, copy.rejections) == (
        orm.accepted,
        orm.duplicates,
        orm.rejected,
        orm.rejections,
    )
    assert stored(org) == stored(other_org)
    assert len(stored(org)) == 6

    def batches(target):
        return list(
            IngestBatch.objects.filter(org=target)
            .order_by("pk")
            .values_list("source", "accepted", "duplicates", "rejected")
        )

    assert batches(org) == batches(other_org)
    assert (
        RequestId.objects.filter(org=org).count() == RequestId.objects.filter(org=other_org).count()
    )


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_copy_path_falls_back_when_a_late_id_was_seen_before(org):
    known = rec()
    run(org, known)
    fresh = [rec() for _ in range(5)]
    result = run(org, *fresh, known, store=store_copy)
    assert (result.accepted, result.duplicates) == (5, 1)
    # Nothing of the aborted first attempt is left: one batch, each row once.
    assert IngestBatch.objects.filter(org=org).count() == 2
    assert RequestLog.objects.filter(org=org).count() == 6
    assert RequestId.objects.filter(org=org).count() == 6


def test_default_path_matches_the_database():
    expected = store_copy if connection.vendor == "postgresql" else store_orm
    assert default_store() is expected
