"""Bulk import of raw request logs from JSONL files (plain or gzip), with the API's checks."""

import gzip
import json
import time
from contextlib import closing
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from console.models import Organization
from usage.ingest.checker import check_lines_in_process
from usage.ingest.services import IngestResult, ingest_checked, request_rollup
from usage.models import IngestBatch

_GZIP_MAGIC = b"\x1f\x8b"
_SHOWN_REJECTIONS = 20
# Larger than the HTTP path's chunks: each chunk costs a dozen round trips and a commit, and
# its request ids, sorted, meet the de-duplication index in fewer places. Once the index
# outgrows the server's cache, that index is most of an import's time: into a 9M-id index
# 250,000 sorted ids a statement went in 1.6x faster than 50,000, and a 10M import ran at
# 0.38x COPY with 200,000 against 0.28x with 50,000 (same machine, same hour). The cost is
# memory: 390 MB at most for both processes, against 160 MB. The keys themselves go in
# groups of several chunks (services.KEY_GROUP_ROWS), which the storing process keeps
# until each group commits: about 620 MB at most for a 2M-record import.
_CHUNK_SIZE = 200_000


def _open(path: Path):
    """Return (line source, raw file): lines as bytes, the raw file for the position."""
    raw = path.open("rb")
    if raw.read(2) == _GZIP_MAGIC:
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    raw.seek(0)
    return raw, raw


class _Progress:
    """One status line on stderr (a command's OutputWrapper): a bar over the file's bytes,
    counts and speed."""

    def __init__(self, stream, path: Path, raw):
        self.stream, self.path, self.raw = stream, path, raw
        self.size = max(path.stat().st_size, 1)
        self.started = time.monotonic()
        self.tty = stream.isatty()
        self.shown = self.started

    def __call__(self, result: IngestResult, final: bool = False) -> None:
        now = time.monotonic()
        if not final and not self.tty and now - self.shown < 5:
            return  # a log file gets a line every few seconds, a terminal every chunk
        self.shown = now
        done = 1.0 if final else min(self._position() / self.size, 1.0)
        bar = "#" * int(done * 30)
        rate = result.total / max(now - self.started, 1e-9)
        line = (
            f"{self.path.name} [{bar:<30}] {done:4.0%} {result.total:,} records "
            f"({result.accepted:,} accepted, {result.duplicates:,} duplicates, "
            f"{result.rejected:,} rejected) {rate:,.0f}/s"
        )
        if self.tty:
            self.stream.write("\r" + line, ending="\n" if final else "")
        else:
            self.stream.write(line)
        self.stream.flush()

    def _position(self) -> int:
        try:
            return self.raw.tell()
        except (ValueError, OSError):  # closed at the very end
            return self.size


def _write_errors(out, path: Path, rejections) -> None:
    """Append each rejected line with its reason, as JSON lines, in one pass over the file."""
    wanted = {r.position: r for r in rejections}
    source, raw = _open(path)
    with raw, source:
        for number, line in enumerate(source, 1):
            rejection = wanted.get(number)
            if rejection is None:
                continue
            record = line.decode("utf-8", "replace").rstrip("\r\n")
            out.write(
                json.dumps(
                    {
                        "file": str(path),
                        "line": number,
                        "request_id": rejection.request_id,
                        "field": rejection.field,
                        "message": rejection.message,
                        "record": record,
                    }
                )
                + "\n"
            )


class Command(BaseCommand):
    help = (
        "Import raw request logs from JSONL files (plain or .gz) into an organisation, with "
        "the same checks as the HTTP API. Exits with status 1 when any record is rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", type=Path)
        parser.add_argument("--org", required=True, metavar="SLUG")
        parser.add_argument(
            "--errors",
            metavar="FILE",
            type=Path,
            help="Write every rejected line with its reason to FILE (JSON lines).",
        )

    def handle(self, *args, paths, org, errors, **options):
        organisation = Organization.objects.filter(slug=org).first()
        if organisation is None:
            raise CommandError(f"No organisation with slug {org!r}.")
        for path in paths:
            if not path.is_file():
                raise CommandError(f"{path} is not a readable file.")
        error_file = errors.open("w", encoding="utf-8") if errors else None
        totals = IngestResult()
        started = time.monotonic()
        try:
            for path in paths:
                result = self._import(organisation, path)
                totals.accepted += result.accepted
                totals.duplicates += result.duplicates
                totals.rejected += result.rejected
                for rejection in result.rejections[:_SHOWN_REJECTIONS]:
                    self.stderr.write(f"{path}: {rejection.describe('line')}")
                if result.rejected > _SHOWN_REJECTIONS:
                    more = result.rejected - _SHOWN_REJECTIONS
                    self.stderr.write(f"{path}: … and {more:,} more rejected lines")
                if error_file and result.rejections:
                    _write_errors(error_file, path, result.rejections)
        finally:
            if error_file:
                error_file.close()
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Imported {len(paths)} file(s) into {organisation.slug}: "
            f"{totals.accepted:,} accepted, {totals.duplicates:,} duplicates, "
            f"{totals.rejected:,} rejected in {elapsed:.1f} s "
            f"({totals.total / max(elapsed, 1e-9):,.0f} records/s)."
        )
        if totals.accepted:
            # After the summary, so that the import's own speed is what is reported: without
            # a broker (the embedded mode) this runs the rollup here and now.
            request_rollup(organisation)
        if totals.rejected:
            where = f"; see {errors}" if errors else "; use --errors FILE to keep them"
            raise CommandError(f"{totals.rejected:,} record(s) were rejected{where}.")

    def _import(self, organisation, path: Path) -> IngestResult:
        source, raw = _open(path)
        progress = _Progress(self.stderr, path, raw)
        checked = check_lines_in_process(source, _CHUNK_SIZE)
        # closing(): when storing fails (or Ctrl-C), the checking process is stopped at once;
        # otherwise the traceback keeps the generator alive and the exit waits for ever on a
        # child blocked writing to a pipe nobody reads.
        with raw, source, closing(checked):
            result = ingest_checked(
                organisation,
                checked,
                source=IngestBatch.Source.IMPORT,
                progress=progress,
                nudge=False,
            )
        progress(result, final=True)
        return result
