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
