"""ingest_records and ingest_checked (usage/ingest/services.py): duplicates, chunks as batches,
the rollup nudge, errors reaching the caller."""

import pytest

from tests.usage.ingest.records import rec, run
from usage.ingest.services import ingest_records
from usage.models import IngestBatch, RequestLog

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("nudges")]


# --- duplicates ---------------------------------------------------------------------------


def test_duplicates_inside_a_batch_and_across_batches(org):
    a, b = rec(), rec()
    result = run(org, a, b, dict(a, usage={"output_tokens": 99}), a)
    assert (result.accepted, result.duplicates, result.rejected) == (2, 2, 0)
    assert RequestLog.objects.get(org=org, request_id=a["request_id"]).output_tokens == 0  # first
    again = run(org, a, b, rec())
    assert (again.accepted, again.duplicates, again.rejected) == (1, 2, 0)
    assert RequestLog.objects.filter(org=org).count() == 3
    batches = list(IngestBatch.objects.filter(org=org).order_by("pk"))
    assert [(x.accepted, x.duplicates) for x in batches] == [(2, 2), (1, 2)]


def test_a_rejected_first_copy_does_not_make_the_valid_one_a_duplicate(org):
    good = rec()
    result = run(org, dict(good, status_code="x"), good)
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, 1)


def test_request_ids_are_unique_per_organisation_only(org, other_org):
    record = rec()
    assert run(org, record).accepted == 1
    assert run(other_org, record).accepted == 1


def test_only_duplicates_or_rejections_do_not_nudge_the_rollup(org, nudges):
    record = rec()
    run(org, record)
    nudges.clear()
    result = run(org, record, rec(model=None))
    assert (result.accepted, result.duplicates, result.rejected) == (0, 1, 1)
    assert nudges == []


def test_the_nudge_waits_for_the_enclosing_commit(org, nudges, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        run(org, rec())
        assert nudges == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert nudges == [org.pk]


def test_chunks_are_separate_batches_with_their_own_counts(org):
    records = [rec() for _ in range(7)]
    records.insert(3, dict(records[0]))  # duplicate of a record in an earlier chunk
    records.append(rec(model=5))
    progress = []
    result = run(org, *records, chunk_size=3, progress=lambda r: progress.append(r.total))
    assert (result.accepted, result.duplicates, result.rejected) == (7, 1, 1)
    batches = IngestBatch.objects.filter(org=org).order_by("pk")
    assert [(b.accepted, b.duplicates, b.rejected) for b in batches] == [
        (3, 0, 0),
        (2, 1, 0),
        (2, 0, 1),
    ]
    assert progress == [3, 6, 9]
    assert result.rejections[0].position == 8
    assert len(result.batch_ids) == 3


def test_an_error_while_checking_reaches_the_caller(org):
    def broken():
        yield 0, rec()
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        ingest_records(org, broken(), source="import")
