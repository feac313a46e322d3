#!/usr/bin/env python3
"""Clips on demand: `nvr-export serve` against the NVR's way, in one run
(`make bench-serve`; not a timed test).

For a 1-minute, a 10-minute and a 1-hour clip of a corpus (from `make
bench-corpus`: recorded through libav's segment muxer as the NVR records),
alternating, RUNS times each:

* serve: `GET /clip/...` from `nvr-export serve` (planned on that request:
  nothing written), then a `Range` request at the byte where the clip's
  last minute begins (what a player sends when the user seeks there); its
  segment index cache holds the segments earlier runs read (a clip over
  footage asked for before);
* serve-cold: the same from a server without index cache
  (`--index-cache-mib 0`): every request reads every segment's header, as
  a clip over footage nobody asked for before;
* pipe: the NVR's clip endpoint, ffmpeg's concat demuxer over the same
  files, stream copy to a pipe as fragmented MP4 (`frag_keyframe+empty_moov`);
  a pipe cannot seek, so the last minute comes when everything before it has;
* faststart: the same remux into a `+faststart` file, then `sync FILE`: what
  a seekable answer costs the CLI before its first byte can be sent.

Before each measured method: `sync`, so that nothing the one before
wrote is still being written back.

Reported, medians: time to first byte, time until the whole `moov` has
arrived (what a player needs before it can show a frame or seek; for the
pipe, its empty `moov` and the first fragment), time to the first byte of
the last minute, time to last byte, bytes written to disk.

    bench-serve.py CORPUS_DIR [--runs 3] [--bin target/release/nvr-export]
"""

import argparse
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time


def env_of(corpus):
    return dict(l.strip().split("=", 1) for l in open(os.path.join(corpus, "corpus.env")) if "=" in l)


class MoovWatch:
    """When the bytes received so far hold the `ftyp` and the `moov` (and,
    for fragmented MP4, the first `moof` + `mdat`)."""

    def __init__(self, t0):
        self.t0, self.head, self.at, self.need = t0, b"", None, None

    def feed(self, chunk, total):
        if self.at is not None:
            return
        if len(self.head) < (1 << 20):
            self.head += chunk[: (1 << 20) - len(self.head)]
        if self.need is None:
            pos, wanted = 0, {b"ftyp", b"moov"}
            while pos + 8 <= len(self.head):
                size = int.from_bytes(self.head[pos:pos + 4], "big")
                kind = self.head[pos + 4:pos + 8]
                if size < 8:
                    return
                pos += size
                wanted.discard(kind)
                if kind == b"moov":
                    frag = b"mvex" in self.head[:pos]
                    if not frag:
                        self.need = pos
                        break
                    wanted |= {b"moof", b"mdat"}
                if not wanted:
                    self.need = pos
                    break
        if self.need is not None and total >= self.need:
            self.at = time.perf_counter() - self.t0


def http_get(port, path, range_from=None):
    """(time to first body byte, time to last, bytes, time to the moov) of one GET."""
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    hdr = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    if range_from is not None:
        hdr += f"Range: bytes={range_from}-\r\n"
    s.sendall((hdr + "\r\n").encode())
    buf, first, total, in_body = b"", None, 0, False
    watch = MoovWatch(t0)
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        if not in_body:
            buf += chunk
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                continue
            in_body = True
            chunk = buf[end + 4:]
            if not chunk:
                continue
        if first is None:
            first = time.perf_counter() - t0
        total += len(chunk)
        watch.feed(chunk, total)
    s.close()
    return first, time.perf_counter() - t0, total, watch.at


def ffmpeg_pipe(listfile, last_fraction):
    """The NVR's clip endpoint: concat remux to a pipe, read to the end."""
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "pipe,file",
           "-f", "concat", "-safe", "0", "-i", listfile, "-c", "copy",
           "-movflags", "frag_keyframe+empty_moov", "-f", "mp4", "pipe:1"]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    first, total, times = None, 0, []
    watch = MoovWatch(t0)
    while True:
        chunk = p.stdout.read1(1 << 20)
        if not chunk:
            break
        if first is None:
            first = time.perf_counter() - t0
        total += len(chunk)
        watch.feed(chunk, total)
        times.append((total, time.perf_counter() - t0))
    p.wait()
    end = time.perf_counter() - t0
    at = total * last_fraction
    last_min = next(t for n, t in times if n >= at)
    return first, last_min, end, total, watch.at


def ffmpeg_faststart(listfile, out):
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-protocol_whitelist", "pipe,file",
           "-f", "concat", "-safe", "0", "-i", listfile, "-c", "copy", "-movflags", "+faststart", out]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    subprocess.run(["sync", out], check=True)
    t = time.perf_counter() - t0
    size = os.path.getsize(out)
    os.remove(out)
    return t, t, t, size, t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default="target/release/nvr-export")
    a = ap.parse_args()
    env = env_of(a.corpus)
    cam, start = env["CAMERA"], int(float(env["START"]))
    db = os.path.join(a.corpus, "frigate.db")
    con = sqlite3.connect(db)
    def server(*extra):
        srv = subprocess.Popen([a.bin, "serve", "--listen", "127.0.0.1:0", "--db", db,
                                "--media-dir", os.path.join(a.corpus, "media"), *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return srv, int(srv.stdout.readline().split("127.0.0.1:")[1].split("/")[0])

    (srv, port), (cold_srv, cold_port) = server(), server("--index-cache-mib", "0")
    work = tempfile.mkdtemp(dir=a.corpus)
    rows = []
    try:
        for minutes in (1, 10, 60):
            end = start + minutes * 60
            paths = [r[0] for r in con.execute(
                "SELECT path FROM recordings WHERE camera=? AND end_time>? AND start_time<? "
                "ORDER BY start_time", (cam, start, end))]
            listfile = os.path.join(work, "list.txt")
            with open(listfile, "w") as f:
                for p in paths:
                    f.write(f"file '{p}'\n")
            last_fraction = max(0.0, (minutes - 1) / minutes)
            got = {"serve": [], "serve-cold": [], "pipe": [], "faststart": []}
            for run in range(a.runs):
                # A new URL each run: the clip is planned on its first request.
                path = f"/clip/{cam}/start/{start}/end/{end - run * 0.001:.3f}.mp4"
                order = list(got)
                for method in order[run % 4:] + order[:run % 4]:
                    # Nothing left to write back by the method before.
                    os.sync()
                    if method.startswith("serve"):
                        p = port if method == "serve" else cold_port
                        first, last, n, moov = http_get(p, path)
                        lm, _, _, _ = http_get(p, path, int(n * last_fraction))
                        got[method].append((first, lm, last, 0, moov))
                    elif method == "pipe":
                        f, lm, e, n, moov = ffmpeg_pipe(listfile, last_fraction)
                        got["pipe"].append((f, lm, e, 0, moov))
                    else:
                        got["faststart"].append(ffmpeg_faststart(listfile, os.path.join(work, "out.mp4")))
            for method, xs in got.items():
                med = [statistics.median(x[i] for x in xs) for i in range(5)]
                rows.append((minutes, method, *med))
    finally:
        for p in (srv, cold_srv):
            p.kill()
            p.wait()
        subprocess.run(["rm", "-rf", work])
    print(f"clips of {cam}, {a.runs} runs alternating, medians (ms; bytes written to disk)")
    print(f"{'clip':>5} {'method':>10} {'first byte':>11} {'moov':>9} {'last minute':>12} {'last byte':>10} {'written':>12}")
    for minutes, method, f, lm, last, w, moov in rows:
        print(f"{minutes:>4}m {method:>10} {f * 1000:>11.1f} {moov * 1000:>9.1f} {lm * 1000:>12.1f} {last * 1000:>10.1f} {int(w):>12}")


if __name__ == "__main__":
    main()
