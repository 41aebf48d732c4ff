"""Checking records off the storing thread: a helper thread, or a forked process for JSONL.

Checking touches no database, so the next chunk is checked while the database stores the
current one. ``ingest_records`` uses a helper thread (``checked_chunks``); ``import_logs``
uses a forked process (``check_lines_in_process``), which also parses the lines and encodes
the rows for COPY, so that checking and storing each get a core.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import multiprocessing
import pickle
import queue
import threading
from collections.abc import Iterable, Iterator

from django.db import connections
from django.utils import timezone

from usage.ingest.contract import (
    MAX_FUTURE,
    Invalid,
    Rejection,
    check_record,
    parse_lines,
    request_id_of,
)
from usage.ingest.store import default_store, encode_chunk, store_copy

CHUNK_SIZE = 10_000


def check_chunk(items: Iterable, latest: dt.datetime) -> tuple[list, list[Rejection]]:
    """Check (position, value) pairs: the checked (position, row) pairs and the rejections."""
    # Pulling records one at a time (not a list of the chunk's records) lets each go as
    # soon as it is checked: only the compact CheckedRecords stay.
    checked = []
    rejections = []
    for position, value in items:
        try:
            checked.append((position, check_record(value, latest)))
        except Invalid as exc:
            rejections.append(Rejection(position, request_id_of(value), exc.field, exc.message))
    return checked, rejections


_DONE = object()


def checked_chunks(records: Iterable, chunk_size: int) -> Iterator[tuple[list, list]]:
    """Check records in a helper thread, one chunk ahead of the caller (no database use)."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce():
        try:
            iterator = iter(records)
            while not stop.is_set():
                latest = timezone.now() + MAX_FUTURE
                checked = check_chunk(itertools.islice(iterator, chunk_size), latest)
                if not checked[0] and not checked[1]:
                    break
                while not stop.is_set():
                    try:
                        handoff.put(checked, timeout=0.1)
                        break
                    except queue.Full:
                        continue
            outcome = _DONE
        except BaseException as exc:  # handed to the caller's thread and raised there
            outcome = exc
        finally:
            # Records are meant to be plain data; should an iterable still query the
            # database, its connection belongs to this thread and must not leak.
            connections.close_all()
        while not stop.is_set():
            try:
                handoff.put(outcome, timeout=0.1)
                return
            except queue.Full:
                continue

    worker = threading.Thread(target=produce, name="ingest-check", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def check_lines_in_process(
    lines: Iterable[bytes], chunk_size: int = CHUNK_SIZE, *, encode: bool | None = None
) -> Iterator:
    """Parse and check NDJSON lines in a forked process, one chunk ahead of the caller.

    For ``import_logs``: parsing and checking is as much Python work per record as storing
    it, and a helper thread shares one core with the caller (the GIL); a process gets the
    other core. ``lines`` (an open file) is read by the child only.

    With ``encode`` (for ``store_copy`` only; by default, when that is the store in use)
    each chunk comes as an ``EncodedChunk``: its rows encoded for COPY there too, so that
    the storing side only joins bytes.
    """
    if encode is None:
        encode = default_store() is store_copy
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(
        target=_check_lines_child,
        args=(lines, chunk_size, encode, reader, writer),
        name="ingest-check",
    )
    child.start()
    writer.close()
    try:
        while True:
            try:
                # Our own forked child wrote these bytes, nothing from outside.
                item = pickle.loads(reader.recv_bytes())  # noqa: S301
            except (EOFError, OSError):  # the child died, maybe mid-message
                child.join(timeout=10)
                raise RuntimeError(
                    f"The record checking process ended unexpectedly (exit code {child.exitcode})."
                ) from None
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        reader.close()  # a child still sending gets a broken pipe and ends
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
            child.join()


def _check_lines_child(
    lines: Iterable[bytes], chunk_size: int, encode: bool, parent_end, out
) -> None:
    # The forked copy of the caller's end: were it kept open, a caller that died would leave
    # this process blocked on a full pipe for ever instead of ending on a broken pipe.
    parent_end.close()
    # Only this process's own short-lived objects; the parser makes no reference cycles.
    gc.disable()
    send = out.send_bytes
    try:
        iterator = parse_lines(lines)
        while True:
            latest = timezone.now() + MAX_FUTURE
            checked = check_chunk(itertools.islice(iterator, chunk_size), latest)
            if not checked[0] and not checked[1]:
                break
            if encode:
                checked = encode_chunk(*checked)
            send(pickle.dumps(checked, pickle.HIGHEST_PROTOCOL))
        send(pickle.dumps(None))
    except BrokenPipeError:
        return  # the caller stopped reading
    except BaseException as exc:  # handed to the caller and raised there
        try:
            data = pickle.dumps(exc)
        except Exception:
            data = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
        try:
            send(data)
        except BrokenPipeError:
            return
