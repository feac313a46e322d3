#!/usr/bin/env python3
"""What a resume saves: an export of CORPUS's range run whole, and the same
export killed (SIGKILL) once KILL_AT percent of its bytes are in its staged
file (the `.part`'s size, polled every 0.2 ms: the export's own progress
events come too coarsely for a sub-second export), then finished by
`nvr-export recover` (which resumes it from its partial file), alternating,
RUNS times each. Prints the medians, the ratio of the resume to the whole
export, and the bytes the resume kept. Every output ends on disk (the engine
fsyncs) and is removed after.

    bench-resume.py CORPUS_DIR [--runs 3] [--kill-at 90] [--bin target/release/nvr-export]
"""
import argparse, glob, json, os, signal, sqlite3, statistics, subprocess, time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kill-at", type=float, default=90.0)
    ap.add_argument("--bin", default="target/release/nvr-export")
    a = ap.parse_args()
    env = dict(l.strip().split("=", 1) for l in open(os.path.join(a.corpus, "corpus.env")) if "=" in l)
    db, media = os.path.join(a.corpus, "frigate.db"), os.path.join(a.corpus, "media")
    base = [a.bin, "--log-level", "error"]
    args = ["--db", db, "--media-dir", media]
    export = base + ["export"] + args + ["--camera", env["CAMERA"], "--start", env["START"],
                                         "--end", env["END"], "--chapters", "none", "--json"]

    def clean(path):
        if path and os.path.exists(path):
            os.remove(path)
        con = sqlite3.connect(db)
        con.execute("DELETE FROM export")
        con.commit()
        con.close()

    whole, resumed, kept, total, sizes, plans = [], [], [], [], [], []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        out = subprocess.run(export, capture_output=True, text=True, check=True)
        whole.append(time.perf_counter() - t0)
        path = json.loads(out.stdout.strip().splitlines()[-1])["video_path"]
        sizes.append(os.path.getsize(path))
        clean(path)

        size = sizes[-1]
        p = subprocess.Popen(export, stdout=subprocess.DEVNULL)
        want = size * a.kill_at / 100
        while p.poll() is None:
            parts = glob.glob(os.path.join(media, "exports", ".*.part"))
            try:
                if parts and os.path.getsize(parts[0]) >= want:
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.0002)
        p.send_signal(signal.SIGKILL)
        p.wait()
        t0 = time.perf_counter()
        out = subprocess.run(base + ["recover"] + args + ["--json"], capture_output=True, text=True, check=True)
        t = time.perf_counter() - t0
        report = json.loads(out.stdout)
        if not report.get("resumed"):
            print("the export finished before it was killed; not counted")
            clean(None)
            continue
        r = report["resumed"][0]
        resumed.append(t)
        plans.append(bool(r.get("from_saved_plan")))
        kept.append(r["bytes_kept"])
        total.append(r["bytes_total"])
        clean(r["video_path"])
    w, r = statistics.median(whole), statistics.median(resumed)
    print(f"whole export        {w * 1000:8.1f} ms (median of {len(whole)})")
    print(f"resume after kill   {r * 1000:8.1f} ms (median of {len(resumed)}; killed at {a.kill_at:.0f} % of the bytes)")
    print(f"ratio               {r / w:8.3f}; kept {statistics.median(kept) / 2**20:.0f} of "
          f"{statistics.median(total) / 2**20:.0f} MiB")
    print("each resume / the median whole export: "
          + " ".join(f"{x / w:.3f}" for x in sorted(resumed)))
    print(f"resumed from the saved plan: {sum(plans)} of {len(plans)}")


if __name__ == "__main__":
    main()
