"""The import_logs and create_ingest_key commands."""

import gzip
import io
import json

import pytest
from django.core.management import CommandError, call_command

from usage.ingest.keys import authenticate
from usage.models import IngestBatch, RequestLog

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("nudges")]


def line(request_id, **extra) -> str:
    record = {
        "request_id": request_id,
        "timestamp": "2026-10-01T12:00:00+02:00",
        "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": 7, "output_tokens": 3},
    }
    record.update(extra)
    return json.dumps(record)


def write(path, lines, compress=False):
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_logs", *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_plain_and_gzip_files(org, tmp_path):
    plain = write(tmp_path / "a.jsonl", [line("a1"), "", line("a2")])
    packed = write(tmp_path / "b.jsonl.gz", [line("b1"), line("b2"), line("b3")], compress=True)
    out, err = run(plain, packed, "--org", "acme")
    assert "5 accepted, 0 duplicates, 0 rejected" in out
    assert "a.jsonl [" in err and "b.jsonl.gz [" in err and "100%" in err
    assert RequestLog.objects.filter(org=org).count() == 5
    assert set(IngestBatch.objects.filter(org=org).values_list("source", flat=True)) == {"import"}
    assert sum(RequestLog.objects.values_list("output_tokens", flat=True)) == 15


def test_gzip_is_recognised_by_content_not_name(org, tmp_path):
    packed = write(tmp_path / "logs.data", [line("x1")], compress=True)
    run(packed, "--org", "acme")
    assert RequestLog.objects.filter(org=org).count() == 1


def test_reimport_counts_duplicates(org, tmp_path):
    path = write(tmp_path / "a.jsonl", [line("a1"), line("a2")])
    run(path, "--org", "acme")
    out, _ = run(path, "--org", "acme")
    assert "0 accepted, 2 duplicates, 0 rejected" in out
    assert RequestLog.objects.count() == 2


def test_rejections_exit_1_and_are_written_with_reasons(org, tmp_path):
    path = write(
        tmp_path / "a.jsonl",
        [
            line("ok1"),
            line("bad1", timestamp="2026-10-01T12:00:00"),
            "{not json",
            line("ok2"),
            line("bad2", usage={"output_tokens": -1}),
        ],
    )
    errors = tmp_path / "errors.jsonl"
    with pytest.raises(CommandError, match="3 record\\(s\\) were rejected") as caught:
        run(path, "--org", "acme", "--errors", errors)
    assert caught.value.returncode == 1
    assert RequestLog.objects.filter(org=org).count() == 2  # the valid ones are kept
    written = [json.loads(x) for x in errors.read_text().splitlines()]
    assert [(e["line"], e["request_id"], e["field"]) for e in written] == [
        (2, "bad1", "timestamp"),
        (3, None, None),
        (5, "bad2", "usage.output_tokens"),
    ]
    assert written[0]["message"].startswith("has no UTC offset")
    assert written[1]["record"] == "{not json"
    assert json.loads(written[2]["record"])["request_id"] == "bad2"
    assert all(e["file"] == str(path) for e in written)


def test_rejections_are_summarised_on_stderr(org, tmp_path):
    path = write(tmp_path / "a.jsonl", [line("ok"), line("bad", model=3)])
    err = io.StringIO()
    with pytest.raises(CommandError, match="use --errors FILE"):
        call_command("import_logs", str(path), "--org", "acme", stderr=err, stdout=io.StringIO())
    assert "line 2 (request_id 'bad'): model: must be a non-empty string" in err.getvalue()


def test_exit_status_through_manage_py(org, tmp_path):
    path = write(tmp_path / "a.jsonl", [line("bad", model=3)])
    with pytest.raises(SystemExit) as caught:
        from django.core.management import ManagementUtility

        ManagementUtility(["manage.py", "import_logs", str(path), "--org", "acme"]).execute()
    assert caught.value.code == 1


def test_unknown_org_and_missing_file(org, tmp_path):
    path = write(tmp_path / "a.jsonl", [line("a1")])
    with pytest.raises(CommandError, match="No organisation"):
        run(path, "--org", "nope")
    with pytest.raises(CommandError, match="not a readable file"):
        run(tmp_path / "missing.jsonl", "--org", "acme")
    assert not RequestLog.objects.exists()


def test_create_ingest_key_prints_a_working_secret(org):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_ingest_key", "--org", "acme", "--name", "cli", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    key = authenticate(secret)
    assert key is not None and key.org == org and key.name == "cli"
    assert "not shown again" in err.getvalue()
    assert secret not in err.getvalue()


def test_create_ingest_key_for_an_unknown_org(db):
    with pytest.raises(CommandError, match="No organisation"):
        call_command("create_ingest_key", "--org", "nope", stdout=io.StringIO())


def test_one_rollup_nudge_after_all_files(
    org, tmp_path, nudges, django_capture_on_commit_callbacks
):
    a = write(tmp_path / "a.jsonl", [line("a1")])
    b = write(tmp_path / "b.jsonl", [line("b1")])
    with django_capture_on_commit_callbacks(execute=True):
        run(a, b, "--org", "acme")
    assert nudges == [org.pk]
    nudges.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run(a, "--org", "acme")  # only duplicates: nothing to roll up
    assert nudges == []


def test_a_failure_while_storing_stops_the_checking_process(org, tmp_path, monkeypatch):
    """The checker runs ahead in a child process; if storing fails, the command must end it
    rather than leave it blocked on a full pipe (the exit would then wait for ever)."""
    import multiprocessing

    from usage.management.commands import import_logs

    monkeypatch.setattr(import_logs, "_CHUNK_SIZE", 50)  # many chunks: the pipe fills up
    path = write(tmp_path / "big.jsonl", [line(f"r{i}") for i in range(3000)])

    kept = []  # as a traceback on its way to the top keeps the generator alive

    def failing_store(organisation, checked, **kwargs):
        kept.append(checked)
        next(iter(checked))
        raise RuntimeError("storing failed")

    monkeypatch.setattr(import_logs, "ingest_checked", failing_store)
    try:
        with pytest.raises(RuntimeError, match="storing failed"):
            run(path, "--org", "acme")
        assert multiprocessing.active_children() == []
    finally:
        for child in multiprocessing.active_children():  # never leave a blocked child behind
            child.kill()
            child.join()
