"""bench-service.sh --rounds: each count measured in turn several times,
its windows pooled into one row (pipelines/bench/bench_service.py's
`pooled`). Pure Python, no service: the rows are made here. Run by meson
test service/live, or by hand: python3 -m pytest tests/service/test_bench_rounds.py
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "pipelines" / "bench"))
import bench_service  # noqa: E402


def window(cpu, rss, analysed_min, ages, ffmpeg_cpu):
    """A row as measure_service and run_ffmpeg make it, for two cameras."""
    p95s = {c: bench_service.p95(v) for c, v in ages.items()}
    return {"cpu_percent": cpu, "rss_mib": rss, "analysed_min": analysed_min,
            "analysed_median": 1.0, "age_p95_ms_median": bench_service.median(p95s.values()),
            "age_p95_ms_max": max(p95s.values()), "age_p95_ms_by_camera": p95s,
            "ages_ms_by_camera": ages, "cameras_without_age": 0, "cameras": 2,
            "load": 1.0, "ffmpeg": {"cpu_percent": ffmpeg_cpu, "rss_mib": rss / 2,
                                    "frames_min": analysed_min, "frames_median": 1.0},
            # A service measured again in the same round (--on-request, --page):
            # its own ages, and no camera count of its own.
            "on_request": {"cpu_percent": cpu, "age_p95_ms_by_camera": p95s,
                           "ages_ms_by_camera": ages, "cameras_without_age": 0,
                           "age_p95_ms_median": 0.0, "age_p95_ms_max": 0.0}}


# CPU is averaged, RSS the highest, the slowest rate the lowest, and a
# camera's age p95 is taken over all its windows' ages together: not the
# mean nor the worst of its windows' p95s. Each window's figures are kept.
def test_rounds_pool_their_windows():
    first = window(2.0, 100.0, 0.99, {"a": [5.0] * 18 + [50.0] * 2, "b": [6.0] * 20}, 1.0)
    second = window(4.0, 120.0, 0.97, {"a": [5.0] * 20, "b": [7.0] * 19 + [9.0]}, 3.0)
    row = bench_service.pooled([first, second])
    assert row["cpu_percent"] == 3.0
    assert row["rss_mib"] == 120.0
    assert row["analysed_min"] == 0.97
    assert row["ffmpeg"]["cpu_percent"] == 2.0
    assert row["ffmpeg"]["rss_mib"] == 60.0
    assert row["ffmpeg"]["frames_min"] == 0.97
    # Camera a: two 50 ms ages in 40 are over its p95 (the 38th of 40),
    # where the first window alone (its 19th of 20) had it at 50.
    assert first["age_p95_ms_by_camera"]["a"] == 50.0
    assert row["age_p95_ms_by_camera"] == {"a": 5.0, "b": 7.0}
    assert row["age_p95_ms_max"] == 7.0
    # The rows inside pool their ages the same way.
    assert row["on_request"]["age_p95_ms_by_camera"] == {"a": 5.0, "b": 7.0}
    assert row["on_request"]["cameras_without_age"] == 0
    assert len(row["ages_ms_by_camera"]["a"]) == 40
    assert [r["age_p95_ms_max"] for r in row["rounds"]] == [50.0, 7.0]
    assert bench_service.rounds_text([row]) == ["- 2 cameras: 50 / 50, 7 / 7"]


# One window is the row itself; a window that failed is the row, so that
# the bench still reports and fails on it.
def test_one_window_or_a_failed_one_is_the_row():
    only = window(2.0, 100.0, 1.0, {"a": [5.0], "b": [6.0]}, 1.0)
    assert bench_service.pooled([only]) is only
    failed = {"cameras": 2, "error": "1 of 2 streaming"}
    assert bench_service.pooled([only, failed]) is failed


# --on-request and --also-analyses: each count beside the same service run
# right after with one thing changed, and a fit for each side.
def test_side_by_side_table_fits_each_side():
    rows = []
    for cameras in (1, 3):
        row = window(cameras * 1.0, 70 + 7 * cameras, 1.0, {"a": [5.0], "b": [9.0]}, 1.0)
        row.update(cameras=cameras, budget_used_mib=1.4 * cameras)
        row["also_analyses"] = dict(row, rss_mib=70 + 4.5 * cameras, age_p95_ms_max=8.0,
                                    cpu_percent=cameras * 0.5)
        rows.append(row)
    lines = bench_service.side_by_side_table(rows, "also_analyses", ("first", "second"))
    assert lines[0].startswith("| cameras | RSS MiB: first / second |")
    assert lines[2] == "| 1 | 77.0 / 74.5 | 1.00 / 0.50 | 1.4 / 1.4 | 9 / 8 |"
    assert lines[-1] == ("Fit: RSS = 70.0 + 7.00 x N MiB with first; "
                         "70.0 + 4.50 x N MiB with second.")
