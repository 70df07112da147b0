"""bench-profile.sh's heap by owner: what `heaptrack_print --print-leaks`
lists for a service killed at the window's end, given to owners
(pipelines/bench/bench_profile.py's `heap_by_owner`). Pure Python, no
service: the text is heaptrack_print's layout, written here. Run by meson
test service/live, or by hand: python3 -m pytest tests/service/test_bench_heap.py
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "pipelines" / "bench"))
import bench_profile  # noqa: E402

# Two allocating functions: each has a header ("... calls from", then the
# function's name) and its stacks below it ("... calls from:"); the
# headers' sums are not sites of their own.
LEAKS = """\
reading file "heaptrack-2.zst" - please wait, this might take some time...
MEMORY LEAKS
7.00M leaked over 3 calls from
cv::fastMalloc(unsigned long)
  in /lib/x86_64-linux-gnu/libopencv_core.so.406
6.00M leaked over 2 calls from:
    cv::Mat::create(int, int, int)
      in /lib/x86_64-linux-gnu/libopencv_core.so.406
    latestframe::motion_detector::analyse(cv::Mat const&)
      at ../src/vision/analysis.cpp:122
1.00M leaked over 1 calls from:
    latestframe::to_gray(cv::Mat const&, latestframe::channel_order)
      at ../src/vision/analysis.cpp:58
3.00M leaked over 2 calls from
av_malloc
  in /lib/x86_64-linux-gnu/libavutil.so.57
3.00M leaked over 2 calls from:
    av_mallocz
      in /lib/x86_64-linux-gnu/libavutil.so.57
    avcodec_alloc_context3
      in /lib/x86_64-linux-gnu/libavcodec.so.59
  and 20.00K from 7 other places

total runtime: 40.48s.
total memory leaked: 10.02M
"""


def test_each_stack_goes_to_its_owner_once():
    owners, held = bench_profile.heap_by_owner(LEAKS)
    assert owners == {"analysis": 7e6, "libavcodec": 3e6, "unlisted": 20e3}
    assert held == 10.02e6
    # The stacks add up to heaptrack's own total: no header counted again.
    assert abs(sum(owners.values()) - held) < 0.01e6
