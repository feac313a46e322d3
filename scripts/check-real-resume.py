#!/usr/bin/env python3
"""Resumes on a real recorder store (`../shared/tools/nvr-recorder`): for each
camera, a paced export is killed (SIGKILL) at 30 % and at 70 % of its copy,
finished by `nvr-export recover`, and the resumed file's packets (ffprobe, the
independent oracle) are compared with an uninterrupted export's. Prints the
bytes kept and whether the resume took the plan the dead run saved; exits 1
if a resumed file differs or kept nothing.

    check-real-resume.py STORE [CAMERA ...]   (default: every camera)
    NVR_EXPORT_BIN=... to test another build (default target/release/nvr-export)
"""
import hashlib, json, os, sqlite3, subprocess, sys

store = sys.argv[1]
bin_ = os.environ.get("NVR_EXPORT_BIN", "target/release/nvr-export")
db, media = store + "/frigate.db", store + "/media"
args = ["--db", db, "--media-dir", media]


def packets(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "packet=stream_index,pts,dts,size,flags", "-of", "csv", path],
                         capture_output=True, text=True, check=True).stdout
    return hashlib.sha256(out.encode()).hexdigest(), out.count("\n")


def clean(path=None):
    if path and os.path.exists(path):
        os.remove(path)
    c = sqlite3.connect(db)
    c.execute("DELETE FROM export")
    c.commit()
    c.close()


def check(cam):
    """True when every resume of `cam` ends as the uninterrupted export."""
    c = sqlite3.connect(db)
    s, e, size = c.execute("select min(start_time), max(end_time), sum(segment_size) "
                           "from recordings where camera=?", (cam,)).fetchone()
    c.close()
    export = [bin_, "export"] + args + ["--camera", cam, "--start", str(s), "--end", str(e),
                                        "--chapters", "none", "--json"]
    clean()
    out = subprocess.run(export, capture_output=True, text=True, check=True).stdout
    ref = json.loads(out.splitlines()[-1])["video_path"]
    want = packets(ref)
    clean(ref)
    rate = int(size * 1e6 / 4)  # segment_size is MB: about 4 s a copy
    ok = True
    for pct in (30, 70):
        p = subprocess.Popen(export + ["--max-rate", str(rate)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        for line in p.stdout:
            v = json.loads(line)
            if v.get("event") == "progress" and v.get("step") == "copying" \
                    and v.get("percent", 0) >= pct:
                break
        p.kill()
        p.wait()
        out = subprocess.run([bin_, "recover"] + args + ["--json"], capture_output=True,
                             text=True, check=True).stdout
        r = json.loads(out)["resumed"][0]
        got = packets(r["video_path"])
        same = got == want
        print(f"{cam} killed at {pct} %: kept {r['bytes_kept']} of {r['bytes_total']} bytes, "
              f"from_saved_plan={r['from_saved_plan']}, {got[1]} packets, same={same}")
        ok &= same and r["bytes_kept"] > 0
        clean(r["video_path"])
    return ok


cameras = sys.argv[2:]
if not cameras:
    c = sqlite3.connect(db)
    cameras = [r[0] for r in c.execute("select distinct camera from recordings order by camera")]
    c.close()
results = [check(cam) for cam in cameras]
sys.exit(0 if all(results) else 1)
