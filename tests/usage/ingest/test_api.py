"""POST /api/v1/logs: bearer auth, size limits (also after gzip), body formats, answers."""

import gzip
import http.client
import json
import socket
import threading

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import reverse
from gunicorn.config import Config
from gunicorn.http import wsgi as gunicorn_wsgi
from gunicorn.http.parser import RequestParser

from usage.ingest.keys import create_ingest_key, revoke_ingest_key
from usage.models import IngestBatch, IngestKey, RequestLog

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("nudges")]

URL = "/api/v1/logs"


@pytest.fixture
def secret(org):
    return create_ingest_key(org, "gateway")[1]


def record(request_id: str, **extra) -> dict:
    return {
        "request_id": request_id,
        "timestamp": "2026-10-01T12:00:00Z",
        "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": 10, "output_tokens": 5},
        **extra,
    }


def ndjson(*records) -> bytes:
    return b"\n".join(json.dumps(r).encode() for r in records) + b"\n"


def post(client, body: bytes, secret: str | None, **headers):
    if secret is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client.post(URL, body, content_type="application/x-ndjson", **headers)


def test_the_url_is_named():
    assert reverse("api:logs") == URL


# --- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer mbi_not-a-key", "Bearer other"],
)
def test_missing_or_wrong_key_is_401_with_a_challenge(client, org, secret, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.post(URL, ndjson(record("r1")), content_type="application/json", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Bearer realm="meterboard"')
    assert response.json() == {"error": "A valid ingest key is required."}
    assert not RequestLog.objects.exists()


def test_wrong_key_challenge_says_invalid_token(client, org):
    response = post(client, ndjson(record("r1")), "mbi_wrong")
    assert response["WWW-Authenticate"] == 'Bearer realm="meterboard", error="invalid_token"'


def test_revoked_key_is_401(client, org):
    key, secret = create_ingest_key(org, "old")
    assert post(client, ndjson(record("r1")), secret).status_code == 200
    revoke_ingest_key(key, actor=None)
    response = post(client, ndjson(record("r2")), secret)
    assert response.status_code == 401
    assert RequestLog.objects.count() == 1


def test_scheme_is_case_insensitive_and_use_is_noted(client, org, secret):
    response = client.post(
        URL, ndjson(record("r1")), content_type="text/plain", HTTP_AUTHORIZATION=f"bearer {secret}"
    )
    assert response.status_code == 200
    assert IngestKey.objects.get(org=org).last_used_at is not None


def test_records_go_to_the_keys_organisation(client, org, other_org):
    other_secret = create_ingest_key(other_org, "theirs")[1]
    assert post(client, ndjson(record("r1")), other_secret).status_code == 200
    assert RequestLog.objects.get().org_id == other_org.pk


def test_get_is_not_allowed(client, secret):
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 405


def test_no_csrf_token_needed(org, secret):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert post(strict, ndjson(record("r1")), secret).status_code == 200


# --- body formats and answers -------------------------------------------------------------


def test_ndjson_body(client, org, secret, nudges, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, ndjson(record("r1"), record("r2")), secret)
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": 0, "errors": []}
    assert RequestLog.objects.filter(org=org).count() == 2
    assert IngestBatch.objects.get(org=org).source == "http"
    assert nudges == [org.pk]


def test_json_array_body(client, org, secret):
    body = json.dumps([record("r1"), record("r2"), record("r3")]).encode()
    response = client.post(
        URL, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 3


def test_partial_batch_keeps_the_valid_records_and_lists_the_errors(client, org, secret):
    body = json.dumps(
        [
            record("ok-1"),
            record("bad-1", usage={"output_tokens": -3}),
            "not an object",
            record("ok-2"),
            record("ok-1"),
        ]
    ).encode()
    response = post(client, body, secret)
    assert response.status_code == 200
    assert response.json() == {
        "accepted": 2,
        "duplicates": 1,
        "rejected": 2,
        "errors": [
            {
                "position": 1,
                "request_id": "bad-1",
                "field": "usage.output_tokens",
                "message": "must be a non-negative integer (at most 1000000000000)",
            },
            {
                "position": 2,
                "request_id": None,
                "field": None,
                "message": "is not a JSON object",
            },
        ],
    }
    assert sorted(RequestLog.objects.values_list("request_id", flat=True)) == ["ok-1", "ok-2"]


def test_ndjson_positions_are_line_numbers(client, org, secret):
    body = ndjson(record("ok")) + b"\n{broken\n" + ndjson(record("late", timestamp="2026-10-01"))
    errors = post(client, body, secret).json()["errors"]
    assert [(e["position"], e["request_id"], e["field"]) for e in errors] == [
        (3, None, None),
        (4, "late", "timestamp"),
    ]
    assert errors[0]["message"].startswith("is not valid JSON")


def test_all_duplicates_is_200(client, org, secret):
    post(client, ndjson(record("r1")), secret)
    response = post(client, ndjson(record("r1"), record("r1")), secret)
    assert response.status_code == 200
    assert response.json() == {"accepted": 0, "duplicates": 2, "rejected": 0, "errors": []}


def test_every_record_rejected_is_422(
    client, org, secret, nudges, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            client, ndjson(record("r1", model=None), record("r2", status_code=7)), secret
        )
    assert response.status_code == 422
    body = response.json()
    assert (body["accepted"], body["rejected"], len(body["errors"])) == (0, 2, 2)
    assert not RequestLog.objects.exists()
    assert nudges == []


def test_duplicates_and_rejections_without_an_accepted_record_is_200(client, org, secret):
    post(client, ndjson(record("r1")), secret)
    response = post(client, ndjson(record("r1"), record("r2", model=None)), secret)
    assert response.status_code == 200
    assert response.json()["duplicates"] == 1


@pytest.mark.parametrize(
    "body",
    [b"", b"   \n\n", b"[1, 2", b"[]", b'{"a": 1}] extra'],
    ids=["empty", "blank", "broken-array", "empty-array", "not-array"],
)
def test_unreadable_or_empty_body_is_400(client, org, secret, body):
    response = post(client, body, secret)
    if body == b'{"a": 1}] extra':  # NDJSON: one unreadable line, so a 422 for that record
        assert response.status_code == 422
        return
    assert response.status_code == 400
    assert "error" in response.json()


# --- gzip and size limits -----------------------------------------------------------------


def test_gzip_body_is_accepted(client, org, secret):
    body = gzip.compress(ndjson(record("r1"), record("r2")))
    response = post(client, body, secret, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert response.json()["accepted"] == 2


def test_gzip_with_several_members(client, org, secret):
    body = gzip.compress(ndjson(record("r1"))) + gzip.compress(ndjson(record("r2")))
    response = post(client, body, secret, HTTP_CONTENT_ENCODING="gzip")
    assert response.json()["accepted"] == 2


@pytest.mark.parametrize("body", [b"not gzip at all", gzip.compress(b"[1, 2, 3]" * 50)[:-12]])
def test_broken_gzip_is_400(client, org, secret, body):
    response = post(client, body, secret, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert "gzip" in response.json()["error"]


def test_unknown_encoding_is_415(client, org, secret):
    response = post(client, b"xx", secret, HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415


def test_body_over_the_limit_is_413(client, org, secret, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048
    records = [record(f"r{i}") for i in range(40)]
    body = ndjson(*records)
    assert len(body) > 2048
    response = post(client, body, secret)
    assert response.status_code == 413
    assert "2048 bytes" in response.json()["error"]
    assert not RequestLog.objects.exists()
    small = ndjson(*records[:5])
    assert len(small) <= 2048
    assert post(client, small, secret).status_code == 200


def test_gzip_bomb_is_413_without_inflating_it(client, org, secret, settings):
    bomb = gzip.compress(b" " * 50_000_000)  # 50 MB of blanks in about 50 kB
    assert len(bomb) < 100_000
    settings.INGEST_MAX_BODY_BYTES = 100_000  # the wire body fits...
    response = post(client, bomb, secret, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413  # ...the decompressed one does not


def test_gzip_exactly_at_the_limit_is_read(client, org, secret, settings):
    body = ndjson(record("r1"))
    settings.INGEST_MAX_BODY_BYTES = len(body)
    response = post(client, gzip.compress(body), secret, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200


def test_limit_applies_above_djangos_form_upload_limit(client, org, secret, settings):
    """Bodies bigger than DATA_UPLOAD_MAX_MEMORY_SIZE but within the ingest limit are fine."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = ndjson(*(record(f"r{i}") for i in range(50)))
    assert len(body) > 1000
    assert post(client, body, secret).status_code == 200


# --- chunked bodies, through gunicorn's own HTTP parser on a real socket --------------------


class _CountingInput:
    """The server's input stream, counting the body bytes the application read."""

    def __init__(self, stream):
        self.stream, self.read_bytes = stream, 0

    def read(self, size=-1):
        data = self.stream.read(size)
        self.read_bytes += len(data)
        return data

    def readline(self, size=-1):
        data = self.stream.readline(size)
        self.read_bytes += len(data)
        return data


def _serve_one(listener: socket.socket) -> _CountingInput:
    """Answer one request the way gunicorn's sync worker does (its parser de-chunks the body).

    In the test's thread, so the view sees the test's database transaction. The connection
    is then closed gracefully (the unread rest of the body drained), so the client reads the
    answer even when the view stopped reading early.
    """
    connection, address = listener.accept()
    with connection:
        config = Config()
        request = next(RequestParser(config, connection, address))
        response, environ = gunicorn_wsgi.create(
            request, connection, address, listener.getsockname(), config
        )
        assert "CONTENT_LENGTH" not in environ  # a chunked request, as a client sends it
        counted = environ["wsgi.input"] = _CountingInput(environ["wsgi.input"])
        response.force_close()
        # As Django's test client does: the test's transaction must outlive the request.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            for part in WSGIHandler()(environ, response.start_response):
                response.write(part)
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        response.close()
        connection.shutdown(socket.SHUT_WR)
        while connection.recv(1 << 16):
            pass
    return counted


def post_chunked(parts, secret: str) -> tuple[int, dict, _CountingInput]:
    """POST the parts with Transfer-Encoding: chunked (no Content-Length) to a real socket."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        answer = {}

        def send():
            client = http.client.HTTPConnection("127.0.0.1", listener.getsockname()[1], timeout=60)
            try:
                client.request(
                    "POST",
                    URL,
                    body=iter(parts),
                    headers={
                        "Authorization": f"Bearer {secret}",
                        "Content-Type": "application/x-ndjson",
                    },
                    encode_chunked=True,
                )
                response = client.getresponse()
                answer["status"], answer["body"] = response.status, json.loads(response.read())
            finally:
                client.close()

        sender = threading.Thread(target=send)
        sender.start()
        counted = _serve_one(listener)
        sender.join(timeout=60)
    return answer["status"], answer["body"], counted


def test_a_chunked_body_is_read(org, secret):
    body = ndjson(*(record(f"r{i}") for i in range(300)))
    parts = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    status, answer, counted = post_chunked(parts, secret)
    assert status == 200, answer
    assert (answer["accepted"], answer["rejected"]) == (300, 0)
    assert counted.read_bytes == len(body)
    assert RequestLog.objects.filter(org=org).count() == 300


def test_a_chunked_body_over_the_limit_is_413_after_reading_at_most_the_limit(
    org, secret, settings
):
    limit = settings.INGEST_MAX_BODY_BYTES
    line = ndjson(record("r1"))
    block = line * (65_536 // len(line))
    parts = [block] * (50_000_000 // len(block))  # 50 MB, five times the default limit
    status, answer, counted = post_chunked(parts, secret)
    assert status == 413
    assert f"{limit} bytes" in answer["error"]
    assert counted.read_bytes == limit + 1
    assert not RequestLog.objects.exists()
