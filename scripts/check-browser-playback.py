#!/usr/bin/env python3
"""Plays MP4 files to their end in headless Chromium (Debian's `chromium`)
and reports what the browser decoded: frames, dropped frames, resolution
changes, the duration it saw, errors.

usage: scripts/check-browser-playback.py [--seek-middle] FILE.mp4|URL [...]

Each file is served on 127.0.0.1 by this script (a URL, e.g. a clip of
`nvr-export serve`, is played from where it is) and played muted in a
<video> at 8x speed; the page reports back with a request to /result.
With --seek-middle the player first seeks to the middle of the media (the
browser then asks for that byte range) and plays from there to the end;
the report says where it seeked to.
"""
import http.server, json, os, shutil, subprocess, sys, tempfile, threading, time, urllib.parse

PAGE = """<!doctype html><html><body><video id=v muted playsinline></video><script>
const v = document.getElementById('v'); const sizes = []; let done = false;
function report(status) {
  if (done) return; done = true;
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {};
  const r = {status, frames: q.totalVideoFrames, dropped: q.droppedVideoFrames,
             currentTime: v.currentTime, duration: v.duration, sizes,
             seekedTo, error: v.error ? (v.error.code + ' ' + v.error.message) : null};
  fetch('/result?' + encodeURIComponent(JSON.stringify(r)));
}
v.addEventListener('resize', () => sizes.push(v.videoWidth + 'x' + v.videoHeight));
v.addEventListener('ended', () => report('ended'));
v.addEventListener('error', () => report('error'));
let seekedTo = null;
v.addEventListener('seeked', () => { seekedTo = v.currentTime; });
v.addEventListener('loadedmetadata', () => {
  v.playbackRate = 8;
  if (SEEK && isFinite(v.duration)) v.currentTime = v.duration / 2;
  v.play().catch(e => report('play failed: ' + e));
});
setTimeout(() => report('timeout'), TIMEOUT_MS);
v.src = SRC;
</script></body></html>"""


def play(path, timeout_s=120, seek=False):
    result = {}
    got = threading.Event()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            u = urllib.parse.urlparse(self.path)
            if u.path == "/result":
                result.update(json.loads(urllib.parse.unquote(u.query)))
                got.set()
                self.send_response(204)
                self.end_headers()
            elif u.path == "/":
                src = path if path.startswith("http") else "/media.mp4"
                body = (PAGE.replace("TIMEOUT_MS", str(timeout_s * 1000))
                        .replace("SRC", json.dumps(src))
                        .replace("SEEK", "true" if seek else "false")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif u.path == "/media.mp4":
                self.path = "/media.mp4"
                super().do_GET()
            else:
                self.send_error(404)

    root = tempfile.mkdtemp()
    if not path.startswith("http"):
        os.symlink(os.path.abspath(path), os.path.join(root, "media.mp4"))
    handler = lambda *a, **k: Handler(*a, directory=root, **k)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    profile = tempfile.mkdtemp()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    proc = subprocess.Popen([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                             "--no-first-run", "--disable-background-networking", "--disable-component-update",
                             "--disable-sync", "--autoplay-policy=no-user-gesture-required",
                             f"--user-data-dir={profile}", f"http://127.0.0.1:{srv.server_port}/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got.wait(timeout_s + 30)
    proc.kill()
    proc.wait()
    srv.shutdown()
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(profile, ignore_errors=True)
    return result or {"status": "no report"}


if __name__ == "__main__":
    ok = True
    seek = "--seek-middle" in sys.argv[1:]
    for f in [a for a in sys.argv[1:] if a != "--seek-middle"]:
        r = play(f, seek=seek)
        print(f"{f}: {json.dumps(r)}")
        ok &= r.get("status") == "ended" and not r.get("error")
    sys.exit(0 if ok else 1)
