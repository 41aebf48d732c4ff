"""Checking JSONL in a forked process (usage/ingest/checker.py): encoded rows store what the
ORM path stores, and its errors reach the caller."""

import json

import pytest
from django.db import connection

from tests.usage.ingest.records import mixed_batch, rec, run, stored
from usage.ingest.checker import check_lines_in_process
from usage.ingest.contract import MAX_COUNT, parse_lines
from usage.ingest.services import ingest_checked, ingest_records
from usage.ingest.store import store_orm
from usage.models import IngestBatch

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("nudges")]


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_rows_encoded_in_the_checking_process_store_what_the_orm_path_stores(org, other_org):
    records = [
        *mixed_batch(),
        rec(request_id="réq-ü-€", timestamp="1999-12-31T23:59:59.999999Z"),  # before 2000
        rec(timestamp="2026-10-01T12:00:00.1234567891z", status_code=599),
        rec(status_code=429, rate_limit_type="requests"),
        rec(status_code=429, rate_limit_type="input_tokens", code_execution_seconds=10**9),
        rec(
            usage={
                "input_tokens": MAX_COUNT,
                "output_tokens": MAX_COUNT,
                "cache_read_input_tokens": MAX_COUNT,
                "cache_creation": {"ephemeral_5m_input_tokens": 1, "ephemeral_1h_input_tokens": 2},
                "server_tool_use": {"web_search_requests": MAX_COUNT},
            }
        ),
    ]
    lines = [json.dumps(r).encode() for r in records]
    lines[2:2] = [b"", b"{not json"]
    known = rec()
    run(org, known)
    run(other_org, known, store=store_orm)
    lines.append(json.dumps(known).encode())
    encoded = ingest_checked(
        org,
        check_lines_in_process(lines, chunk_size=4, encode=True),
        source=IngestBatch.Source.IMPORT,
    )
    plain = ingest_records(
        other_org,
        parse_lines(lines),
        source=IngestBatch.Source.IMPORT,
        store=store_orm,
        chunk_size=4,
    )
    assert (encoded.accepted, encoded.duplicates, encoded.rejected) == (10, 2, 3)
    assert (encoded.accepted, encoded.duplicates, encoded.rejected, encoded.rejections) == (
        plain.accepted,
        plain.duplicates,
        plain.rejected,
        plain.rejections,
    )
    assert [r.position for r in encoded.rejections] == [4, 8, 9]
    assert stored(org) == stored(other_org)
    assert len(stored(org)) == 11


def test_checking_process_errors_reach_the_caller(org):
    def broken():
        yield json.dumps(rec()).encode()
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        ingest_checked(org, check_lines_in_process(broken()), source=IngestBatch.Source.IMPORT)


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
@pytest.mark.parametrize("group_rows", [1, 3, 1_000])
def test_chunks_stored_together_count_each_request_once(org, other_org, monkeypatch, group_rows):
    # Encoded chunks go in groups of KEY_GROUP_ROWS records, one transaction and one key
    # COPY a group: a request id in two chunks of a group, or seen in an earlier group or
    # an earlier import, is a duplicate all the same, and each chunk is its own batch.
    from usage.ingest import services

    monkeypatch.setattr(services, "KEY_GROUP_ROWS", group_rows)
    seen_before = rec()
    run(org, seen_before)
    run(other_org, seen_before, store=store_orm)
    records = [rec(), rec(), rec(), seen_before, rec(), rec(), rec()]
    records.insert(5, dict(records[1]))  # chunk 1's second record again, in chunk 3
    records.append(dict(records[6]))  # chunk 4's first again, alone in chunk 5
    lines = [json.dumps(r).encode() for r in records]
    encoded = ingest_checked(
        org, check_lines_in_process(lines, chunk_size=2, encode=True), source="import"
    )
    plain = ingest_records(
        other_org, parse_lines(lines), source="import", store=store_orm, chunk_size=2
    )
    assert (encoded.accepted, encoded.duplicates, encoded.rejected) == (6, 3, 0)
    assert (plain.accepted, plain.duplicates) == (6, 3)
    assert stored(org) == stored(other_org)
    assert len(stored(org)) == 7  # the 6 and the one seen before, once each
    batches = IngestBatch.objects.filter(org=org, source="import").order_by("pk")
    assert [(b.accepted, b.duplicates) for b in batches] == [(2, 0), (1, 1), (1, 1), (2, 0), (0, 1)]
