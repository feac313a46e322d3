#!/usr/bin/env python3
"""Benchmarks of the Python module (`make bench-python`; not a timed test).

1. The binding's overhead: N exports of the demo store through
   `nvr_export.Exporter.export`, each one's wall time in Python minus the
   engine's own `timings.total_s` (measured inside the Rust call): what the
   binding adds (request JSON, the worker thread, GIL hand-offs, progress
   callbacks, the outcome's objects). With and without a progress callback.
2. The NVR's own way against the drop-in, alternating in one run on the same
   NVR-style hour (a corpus of `make bench-corpus`, recorded through libav's
   segment muxer as the NVR records): the reference exporter's ffmpeg
   command line reading the playlist of the NVR's VOD server (the peer,
   nginx + nginx-vod-module, on loopback), then `sync FILE`; and
   `nvr_export.frigate.RecordingExporter(...).run()` as the NVR's job
   manager calls it (which fsyncs). Outputs land on the same filesystem.

    bench-python.py [--exports 200] [--corpus DIR --vod-port PORT --runs 5]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from types import SimpleNamespace

import nvr_export
from nvr_export import _native


def median_ms(xs):
    return statistics.median(xs) * 1000


def overhead(work, exports):
    store = json.loads(_native.sample_store("demo", os.path.join(work, "demo")))
    ex = nvr_export.Exporter(store["db"], store["media_dir"])
    results = {}
    for label, progress in (("no callback", None), ("progress callback", lambda s, p: None)):
        over, total = [], []
        for i in range(exports):
            t = time.perf_counter()
            out = ex.export(store["camera"], store["start"], store["end"], progress=progress,
                            id=f"bench_{label[0]}{i}")
            wall = time.perf_counter() - t
            over.append(wall - out.timings.total_s)
            total.append(wall)
            os.remove(out.video_path)
            if out.thumb_path:
                os.remove(out.thumb_path)
        over.sort()
        results[label] = (median_ms(over), over[int(len(over) * 0.9)] * 1000, median_ms(total))
    print(f"binding overhead over {exports} exports of the demo store (60 s, 1.3 MB):")
    for label, (med, p90, tot) in results.items():
        print(f"  {label:18} median {med:.3f} ms, p90 {p90:.3f} ms (export: median {tot:.1f} ms)")


def cancel_latency(work, runs=10):
    """Time from CancelToken.cancel() on another thread to the export's
    Cancelled reaching the caller (a paced export, mid-copy)."""
    import threading
    store = json.loads(_native.sample_store("demo", os.path.join(work, "demo-cancel")))
    ex = nvr_export.Exporter(store["db"], store["media_dir"], max_rate=100_000)
    lat = []
    for _ in range(runs):
        token, at = nvr_export.CancelToken(), []

        def cancel():
            time.sleep(0.3)
            at.append(time.perf_counter())
            token.cancel()

        threading.Thread(target=cancel).start()
        try:
            ex.export(store["camera"], store["start"], store["end"], cancel=token)
        except nvr_export.Cancelled:
            lat.append(time.perf_counter() - at[0])
    lat.sort()
    print(f"cancel from another thread to Cancelled raised, {runs} runs: median "
          f"{median_ms(lat):.1f} ms, max {lat[-1] * 1000:.1f} ms")


def sync(path):
    subprocess.run(["sync", path], check=True)


def nvr_vs_dropin(work, corpus, port, runs):
    env = dict(l.strip().split("=", 1) for l in open(os.path.join(corpus, "corpus.env")) if "=" in l)
    cam, start, end = env["CAMERA"], int(float(env["START"])), int(float(env["END"]))
    db = os.path.join(corpus, "frigate.db")
    peer = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "peers", "nginx-vod")
    subprocess.run(["bash", os.path.join(peer, "build.sh")], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, os.path.join(peer, "serve.py"), "start", db, str(port)], check=True)
    try:
        # The drop-in's NVR: its folders (exports beside the CLI's output)
        # and a copy of the catalogue, so that the corpus stays untouched.
        out_dir = os.path.join(work, "exports")
        os.makedirs(out_dir)
        const = types.ModuleType("frigate.const")
        const.BASE_DIR = os.path.join(corpus, "media")
        const.RECORD_DIR = os.path.join(corpus, "media", "recordings")
        const.CLIPS_DIR = os.path.join(work, "clips")
        const.EXPORT_DIR = out_dir
        const.CACHE_DIR = os.path.join(work, "cache")
        os.makedirs(os.path.join(const.CLIPS_DIR, "export"))
        pkg = types.ModuleType("frigate")
        pkg.__path__ = []
        sys.modules["frigate"], sys.modules["frigate.const"] = pkg, const
        from nvr_export.frigate import PlaybackSourceEnum, RecordingExporter
        db_copy = os.path.join(work, "frigate.db")
        shutil.copy(db, db_copy)
        cfg = SimpleNamespace(database=SimpleNamespace(path=db_copy), ui=SimpleNamespace(timezone=None))
        url = f"http://127.0.0.1:{port}/vod/{cam}/start/{start}/end/{end}/index.m3u8"
        cli_times, dropin_times, sizes = [], [], {}
        for run in range(runs):
            target = os.path.join(out_dir, f"cli_{run}.mp4")
            cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-protocol_whitelist",
                   "pipe,file,http,tcp", "-i", url, "-c", "copy", "-movflags", "+faststart",
                   "-metadata", f"title=Frigate Recording for {cam}", "-metadata",
                   f"comment=Camera: {cam}", target]
            t = time.perf_counter()
            subprocess.run(cmd, check=True)
            sync(target)
            cli_times.append(time.perf_counter() - t)
            sizes["ffmpeg CLI via the VOD server"] = os.path.getsize(target)
            os.remove(target)

            t = time.perf_counter()
            ex = RecordingExporter(cfg, f"{cam}_run{run:03d}", cam, None, None, start, end,
                                   PlaybackSourceEnum.recordings, None, None, None, False, None,
                                   on_progress=lambda s, p: None)
            ex.run()
            dropin_times.append(time.perf_counter() - t)
            if ex.error is not None:
                raise SystemExit(f"drop-in export failed: {ex.error}")
            sizes["drop-in RecordingExporter.run()"] = os.path.getsize(ex.outcome.video_path)
            os.remove(ex.outcome.video_path)
        cli, dropin = statistics.median(cli_times), statistics.median(dropin_times)
        print(f"the NVR's way vs the drop-in, {runs} runs alternating, {cam} {end - start} s:")
        print(f"  ffmpeg CLI via the VOD server + sync: median {cli:.3f} s  "
              f"({sizes['ffmpeg CLI via the VOD server'] / 1e6:.0f} MB)")
        print(f"  drop-in RecordingExporter.run():      median {dropin:.3f} s  "
              f"({sizes['drop-in RecordingExporter.run()'] / 1e6:.0f} MB)")
        print(f"  drop-in / NVR's way: {dropin / cli:.3f}x")
    finally:
        subprocess.run([sys.executable, os.path.join(peer, "serve.py"), "stop", str(port)],
                       stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exports", type=int, default=200)
    ap.add_argument("--corpus")
    ap.add_argument("--vod-port", type=int, default=18190)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    info = nvr_export.libav_info()
    print(f"nvr_export on {info['version']} ({info['license']})")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as work:
        overhead(work, a.exports)
        cancel_latency(work)
        if a.corpus:
            nvr_vs_dropin(work, os.path.abspath(a.corpus), a.vod_port, a.runs)


if __name__ == "__main__":
    main()
