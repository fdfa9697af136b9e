"""The twins' timing rule and memory figure, without torch (ONNX Runtime's and CTranslate2's timed processes import
this and nothing of PyTorch): the median of a function's times over at least `min_runs` runs and `min_time` seconds
after one warm-up run, and the process's peak resident set (VmHWM) in MB."""
import json
import time


def median_time(fn, min_time=0.5, min_runs=7):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], len(times)


def peak_rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return -1


def emit_with_rss(**fields):
    """One JSON line with the process's peak RSS added."""
    fields["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(fields), flush=True)
