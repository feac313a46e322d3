#!/usr/bin/env bash
# Start-up cost of the CLI, two builds side by side in one run (alternating):
# median wall time of `--help` over RUNS runs, and the process's peak RSS.
#
#   scripts/bench-startup.sh BINARY_A BINARY_B [RUNS]
#   (e.g. target/system/release/nvr-export target/release/nvr-export)
set -euo pipefail
A=${1:?first binary}; B=${2:?second binary}; RUNS=${3:-30}
python3 - "$A" "$B" "$RUNS" <<'PY'
import subprocess, sys, time
bins, runs = sys.argv[1:3], int(sys.argv[3])
times = {b: [] for b in bins}
for _ in range(runs):
    for b in bins:
        t = time.perf_counter()
        subprocess.run([b, "--help"], stdout=subprocess.DEVNULL, check=True)
        times[b].append(time.perf_counter() - t)
def rss(b):
    # GNU time (package `time`): the exec'd program's own peak, not the
    # forking Python's.
    out = subprocess.run(["/usr/bin/time", "-f", "%M", b, "--help"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    return int(out.stderr.strip().splitlines()[-1]) / 1024
med = {b: sorted(v)[len(v) // 2] * 1000 for b, v in times.items()}
for b in bins:
    libs = subprocess.run(["ldd", b], capture_output=True, text=True).stdout.count("\n")
    print(f"{b}: --help median {med[b]:.1f} ms, peak RSS {rss(b):.1f} MiB, {libs} shared libraries")
print(f"ratio (second / first): {med[bins[1]] / med[bins[0]]:.3f}")
PY
