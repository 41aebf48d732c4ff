"""The benchmark's choice of month: whole, finished before the run, the same kind on any date."""

import datetime as dt

import pytest

from bench.run import bench_month, worker_tasks

# Every hour of two years, leap day included: each date of the month and each time of day.
RUNS = [
    dt.datetime(2027, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=h) for h in range(0, 2 * 8784, 5)
]


@pytest.mark.parametrize("now", RUNS[::97] + [dt.datetime(2026, 12, 2, 4, 30, tzinfo=dt.UTC)])
def test_the_month_is_whole_and_the_latest_that_ended_a_day_before_the_run(now):
    month = bench_month(now)
    assert (month.start.day, month.start.time(), month.end.day, month.end.time()) == (
        1,
        dt.time(0),
        1,
        dt.time(0),
    )
    assert month.start.tzinfo == month.end.tzinfo == dt.UTC
    assert 28 <= month.days <= 31 and month.value == f"{month.start:%Y-%m}"
    assert month.end <= now - dt.timedelta(days=1)
    # the month after it has not ended a day before the run
    following_end = (month.end + dt.timedelta(days=32)).replace(day=1)
    assert following_end > now - dt.timedelta(days=1)


def test_on_the_2nd_it_is_the_month_before_and_on_the_1st_the_one_before_that():
    assert bench_month(dt.datetime(2026, 12, 2, 4, 30, tzinfo=dt.UTC)).value == "2026-11"
    assert bench_month(dt.datetime(2026, 12, 1, 23, 59, tzinfo=dt.UTC)).value == "2026-10"
    assert bench_month(dt.datetime(2028, 3, 2, tzinfo=dt.UTC)).value == "2028-02"


def test_the_drill_day_is_the_last_wednesday_clear_of_the_late_week():
    for now in RUNS:
        month = bench_month(now)
        day = month.drill_day
        assert day.weekday() == 2
        # in the last week, after the late logs (the week ending 14 days before the month ends)
        assert (month.end - dt.timedelta(days=7)).date() <= day < month.end.date()


def test_live_ingest_lands_on_the_last_day_at_the_run_time_of_day():
    month = bench_month(dt.datetime(2026, 12, 2, 4, 30, 15, tzinfo=dt.UTC))
    when = month.on_last_day(dt.datetime(2026, 12, 2, 23, 59, 59, 999000, tzinfo=dt.UTC))
    assert when == dt.datetime(2026, 11, 30, 23, 59, 59, 999000, tzinfo=dt.UTC)
    assert month.start <= when < month.end


def test_worker_tasks_are_read_from_the_worker_log_with_their_start_and_length(tmp_path):
    def stamp(moment: dt.datetime) -> str:  # as logging writes asctime: local time
        return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S,") + f"{moment:%f}"[:3]

    load = dt.datetime(2026, 12, 2, 15, 20, 0, tzinfo=dt.UTC)
    before, sweep, stall = (load + dt.timedelta(seconds=s) for s in (-5, 3.5, 44.25))
    log = tmp_path / "celery.log"
    log.write_text(
        f"[{stamp(before)}: INFO/ForkPoolWorker-1] Task usage.tasks.rollup_pending[a1] "
        "succeeded in 0.2s: 1\n"
        f"[{stamp(sweep)}: INFO/Beat] Scheduler: Sending due task dispatch rollups of pending "
        "batches (usage.tasks.dispatch_rollups)\n"
        f"[{stamp(sweep)}: INFO/MainProcess] Task usage.tasks.rollup_pending[b2-c3] received\n"
        f"[{stamp(sweep)}: INFO/ForkPoolWorker-1] Task usage.tasks.rollup_pending[b2-c3] "
        "succeeded in 0.4120013s: 3\n"
        f"[{stamp(stall)}: INFO/ForkPoolWorker-1] Task usage.tasks.maintain_partitions[d4] "
        "succeeded in 41.25s: ['usage_minutebucket_p2026_11_01']\n"
        f"[{stamp(stall)}: WARNING/ForkPoolWorker-1] Task usage.tasks.x[e5] succeeded in 1s: 0\n"
    )
    tasks = worker_tasks(log, load)
    assert [(t.short_name, t.seconds, t.result) for t in tasks] == [
        ("rollup_pending", 0.4120013, "3"),
        ("maintain_partitions", 41.25, "['usage_minutebucket_p2026_11_01']"),
    ]
    assert tasks[0].finished == sweep
    assert tasks[1].started == load + dt.timedelta(seconds=3)
