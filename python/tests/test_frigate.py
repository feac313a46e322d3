"""The drop-in exporter as the NVR's current code calls it
(``../shared/reference/frigate-head/``): its job manager's construction
(13 positional arguments, then ``on_progress=``) and ``run()`` on its own
worker threads, folders moved by ``frigate.const``, the three clocks, the
progress sequence, and failures that leave nothing."""

import datetime
import os
import threading
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from nvr_export.frigate import (
    PlaybackSourceEnum, RecordingExporter, migrate_exports, validate_ffmpeg_args,
)
from conftest import export_rows, ffprobe, files_under, nvr_store_in


class ChaptersEnum(str):
    """The NVR's ChaptersEnum stand-in: a str enum member has ``.value``."""

    @property
    def value(self):
        return str(self)


UI_TZ = "America/New_York"


def config(db, ui_timezone=UI_TZ, hwaccel_args="auto"):
    record = SimpleNamespace(export=SimpleNamespace(hwaccel_args=hwaccel_args))
    return SimpleNamespace(
        database=SimpleNamespace(path=db),
        ui=SimpleNamespace(timezone=ui_timezone),
        cameras={"front_door": SimpleNamespace(record=record)},
        ffmpeg=SimpleNamespace(ffmpeg_path="/usr/lib/ffmpeg/7.0/bin/ffmpeg"),
    )


def job_manager_run(cfg, job_id, camera, start, end, *, source="recordings", name=None,
                    image=None, case=None, in_args=None, out_args=None, chapters=None):
    """What ``ExportJobManager.run_job`` does, to the letter of its call."""
    progress = []
    exporter = RecordingExporter(
        cfg,
        job_id,
        camera,
        name,
        image,
        int(start),
        int(end),
        PlaybackSourceEnum(source),
        case,
        in_args,
        out_args,
        False,
        chapters,
        on_progress=lambda step, percent: progress.append((step, percent)),
    )
    exporter.run()
    return exporter, progress


def local(ts):
    return datetime.datetime.fromtimestamp(ts).strftime("%Y%m%d_%H%M%S")


def in_zone(ts, tz):
    return datetime.datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def check_progress(progress, working_step):
    steps = [s for s, _ in progress]
    order = [s for i, s in enumerate(steps) if i == 0 or steps[i - 1] != s]
    assert order == ["preparing", working_step, "finalizing"], progress
    assert progress[0] == ("preparing", 0.0) and progress[-1] == ("finalizing", 100.0)
    for step in order:
        ps = [p for s, p in progress if s == step]
        assert ps == sorted(ps) and all(0.0 <= p <= 100.0 for p in ps), (step, ps)


def test_three_job_manager_workers_at_once_with_moved_folders(built_stores, frigate_env):
    const = frigate_env
    store = nvr_store_in(built_stores["nvr"], const)
    cfg = config(store["db"])
    start, end = int(store["start"]), int(store["end"])
    ranges = {
        "front_door_aaaaaa": (start, end),
        "front_door_bbbbbb": (start + 5, end - 20),
        "front_door_cccccc": (start + 30, end),  # across the outage
    }
    results, errors = {}, []

    def worker(job_id, s, e):
        try:
            results[job_id] = job_manager_run(
                cfg, job_id, "front_door", s, e, case="case_1" if job_id.endswith("a") else None,
                chapters=ChaptersEnum("review_items"))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i, s, e)) for i, (s, e) in ranges.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    by_id = {r[0]: r for r in export_rows(store["db"])}
    assert set(by_id) == set(ranges)
    for job_id, (s, e) in ranges.items():
        exporter, progress = results[job_id]
        assert exporter.error is None, exporter.error
        _, camera, name, video_path, thumb_path, in_progress, case = by_id[job_id]
        suffix = job_id.split("_")[-1]
        # Clock 1: the file name in the machine's local time (+05:30 here).
        file = f"front_door_{local(s)}-{local(e)}_{suffix}.mp4"
        assert video_path == os.path.join(const.EXPORT_DIR, file)
        assert os.path.isfile(video_path)
        # Clock 2: the name and the title in config.ui.timezone.
        assert name == f"front door {in_zone(s, UI_TZ)} {in_zone(e, UI_TZ)}"
        probe = ffprobe(video_path)
        tags = probe["format"]["tags"]
        assert tags["title"] == f"Frigate Recording for front_door, {in_zone(s, UI_TZ)} - {in_zone(e, UI_TZ)}"
        # Clock 3: creation_time in UTC.
        utc = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
        assert tags["creation_time"] == utc.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        assert tags["comment"] == "Camera: front_door"
        assert in_progress == 0 and camera == "front_door"
        assert case == ("case_1" if job_id.endswith("a") else None)
        assert thumb_path == os.path.join(const.CLIPS_DIR, "export", f"{job_id}.webp")
        assert Path(thumb_path).read_bytes()[8:12] == b"WEBP"
        assert {"video", "audio"} <= {st["codec_type"] for st in probe["streams"]}
        assert float(probe["format"]["duration"]) > 0.5 * (e - s) - 20
        check_progress(progress, "copying")
    # Nothing written anywhere else: no chapter metadata files in the cache.
    assert files_under(const.CACHE_DIR) == []


def test_start_and_join_as_a_thread_with_preview_source_and_user_image(built_stores, frigate_env):
    const = frigate_env
    store = nvr_store_in(built_stores["nvr"], const)
    cfg = config(store["db"], ui_timezone="Not/AZone")  # unknown: local time, as the NVR
    image = Path(const.CLIPS_DIR) / "review" / "thumb-front_door-1.webp"
    image.parent.mkdir(parents=True)
    # A review thumbnail (WebP) in CLIPS_DIR: one the engine made will do.
    first, _ = job_manager_run(cfg, "front_door_imgsrc", "front_door", store["start"], store["start"] + 10)
    image.write_bytes(Path(first.outcome.thumb_path).read_bytes())
    progress = []
    s, e = int(store["start"]) + 2, int(store["start"]) + 32
    exporter = RecordingExporter(cfg, "front_door_prevw1", "front_door", "My preview", str(image), s, e,
                                 PlaybackSourceEnum.preview, on_progress=lambda *a: progress.append(a))
    exporter.start()
    exporter.join(60)
    assert not exporter.is_alive() and exporter.error is None, exporter.error
    row = [r for r in export_rows(store["db"]) if r[0] == "front_door_prevw1"][0]
    assert row[2] == "My preview" and row[5] == 0
    assert row[3] == os.path.join(const.EXPORT_DIR, f"front_door_{local(s)}-{local(e)}_prevw1.mp4")
    # A user's WebP is copied as it is.
    assert Path(row[4]).read_bytes() == image.read_bytes()
    tags = ffprobe(row[3])["format"]["tags"]
    assert tags["title"].startswith("Frigate Preview for front_door, " + datetime.datetime.fromtimestamp(s).strftime("%Y-%m-%d %H:%M:%S"))
    assert abs(float(ffprobe(row[3])["format"]["duration"]) - 30.0) < 1.0
    check_progress(progress, "copying")


def test_custom_timelapse_encodes_without_audio(built_stores, frigate_env):
    store = nvr_store_in(built_stores["nvr"], frigate_env)
    cfg = config(store["db"], hwaccel_args="")
    exporter, progress = job_manager_run(
        cfg, "front_door_tlapse", "front_door", store["start"], store["end"],
        in_args="", out_args="-vf setpts=0.04*PTS -r 30")
    assert exporter.error is None, exporter.error
    probe = ffprobe(exporter.outcome.video_path)
    assert "audio" not in {st["codec_type"] for st in probe["streams"]}
    # 70 s of footage at 25x.
    assert 2.0 < float(probe["format"]["duration"]) < 3.5
    check_progress(progress, "encoding")


def test_a_failed_export_leaves_no_row_file_or_thumbnail(built_stores, frigate_env):
    const = frigate_env
    store = nvr_store_in(built_stores["nvr"], const)
    cfg = config(store["db"])
    s = int(store["start"])
    for job_id, kwargs in [
        ("front_door_norecs", dict(start=s - 7200, end=s - 3600)),
        ("front_door_badarg", dict(start=s, end=s + 30, in_args="", out_args="-i /etc/passwd")),
    ]:
        start, end = kwargs.pop("start"), kwargs.pop("end")
        exporter, progress = job_manager_run(cfg, job_id, "front_door", start, end, **kwargs)
        assert exporter.error is not None and exporter.outcome is None
        assert [r for r in export_rows(store["db"]) if r[0] == job_id] == []
    # The segments were deleted under the export: the file fails to read.
    for f in Path(const.RECORD_DIR).rglob("*.mp4"):
        f.write_bytes(b"gone")
    exporter, _ = job_manager_run(cfg, "front_door_broken", "front_door", s, s + 30)
    assert exporter.error is not None
    assert export_rows(store["db"]) == []
    assert files_under(const.EXPORT_DIR) == []
    assert files_under(Path(const.CLIPS_DIR) / "export") == []


def test_migrate_exports_and_validate_args(built_stores, frigate_env):
    const = frigate_env
    store = nvr_store_in(built_stores["nvr"], const)
    cfg = config(store["db"])
    exporter, _ = job_manager_run(cfg, "front_door_tomigr", "front_door", store["start"], store["start"] + 20)
    bare = os.path.join(const.EXPORT_DIR, "front_door_old_export.mp4")
    os.link(exporter.outcome.video_path, bare)
    migrate_exports(cfg.ffmpeg, ["front", "front_door"])
    rows = [r for r in export_rows(store["db"]) if r[3] == bare]
    assert len(rows) == 1
    id_, camera, name, _, thumb, in_progress, _ = rows[0]
    assert camera == "front_door" and id_.startswith("front_door_") and len(id_) == len("front_door_") + 6
    assert name == "front_door_old_export" and in_progress == 0
    assert thumb == os.path.join(const.CLIPS_DIR, "export", f"{id_}.jpg")
    (stream,) = ffprobe(thumb)["streams"]
    assert stream["height"] == 180
    migrate_exports(cfg.ffmpeg, ["front_door"])  # a second run adds nothing
    assert len([r for r in export_rows(store["db"]) if r[3] == bare]) == 1

    assert validate_ffmpeg_args("-vf setpts=0.04*PTS -r 30 -crf 23") == (True, "")
    ok, why = validate_ffmpeg_args("-vf movie=/etc/passwd")
    assert not ok and why


def test_no_preview_at_the_start_means_an_empty_thumb_path(built_stores, frigate_env):
    const = frigate_env
    store = nvr_store_in(built_stores["nvr"], const)
    for f in Path(const.CLIPS_DIR, "previews").rglob("*.mp4"):
        f.unlink()
    import sqlite3
    con = sqlite3.connect(store["db"])
    con.execute("DELETE FROM previews")
    con.commit()
    con.close()
    exporter, progress = job_manager_run(config(store["db"]), "front_door_nothmb", "front_door",
                                         store["start"], store["start"] + 20)
    assert exporter.error is None
    (row,) = export_rows(store["db"])
    assert row[4] == "" and row[5] == 0
    assert [w.kind for w in exporter.outcome.warnings] == ["no_thumbnail"]
    assert files_under(Path(const.CLIPS_DIR) / "export") == []
    check_progress(progress, "copying")
