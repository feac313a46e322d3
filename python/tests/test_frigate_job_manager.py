"""The NVR's own job manager (``frigate/jobs/export.py`` at the pinned
commit, ``../shared/reference/frigate-head/frigate_jobs_export.py``) run
unchanged against the drop-in: its ``ExportJobManager`` builds
``RecordingExporter`` with its 13 positional arguments and ``on_progress=``,
runs ``run()`` on its own worker threads, and reads the export row back
through its peewee ``Export`` model, exactly as in the NVR. Only the modules
it imports from the rest of the NVR are stand-ins (config, the ZMQ
publisher, the job base class); ``frigate.record.export`` is the drop-in.

Skipped where the reference file is not present (it lives beside the
repository, not in it) or peewee is not installed."""

import dataclasses
import enum
import importlib.util
import os
import sys
import threading
import time
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import nvr_store_in

HEAD = Path(os.environ.get(
    "NVR_FRIGATE_HEAD",
    Path(__file__).resolve().parents[3] / "shared" / "reference" / "frigate-head"))
SOURCE = HEAD / "frigate_jobs_export.py"

peewee = pytest.importorskip("peewee")
if not SOURCE.is_file():
    pytest.skip(f"the NVR's job manager is not at {SOURCE}", allow_module_level=True)


class ChaptersEnum(str, enum.Enum):
    review_items = "review_items"
    recording_segments = "recording_segments"


class JobStatusTypesEnum(str, enum.Enum):
    queued = "queued"
    running = "running"
    success = "success"
    failed = "failed"
    cancelled = "cancelled"


@dataclasses.dataclass
class Job:
    id: str = ""
    job_type: str = ""
    status: str = JobStatusTypesEnum.queued
    start_time: float | None = None
    end_time: float | None = None
    error_message: str | None = None
    results: dict | None = None


def load_job_manager(monkeypatch, const, db_path):
    """The NVR's job manager module with its NVR imports stood in for."""
    import nvr_export.frigate as dropin

    database = peewee.SqliteDatabase(db_path, pragmas={"journal_mode": "wal"})

    class ExportCase(peewee.Model):
        id = peewee.CharField(max_length=30, primary_key=True)

        class Meta:
            database = None
            table_name = "exportcase"

    class Export(peewee.Model):
        id = peewee.CharField(max_length=30, primary_key=True)
        camera = peewee.CharField(max_length=20)
        name = peewee.CharField(max_length=100)
        date = peewee.DateTimeField()
        video_path = peewee.CharField(unique=True)
        thumb_path = peewee.CharField(unique=True)
        in_progress = peewee.BooleanField()
        export_case = peewee.ForeignKeyField(ExportCase, null=True, column_name="export_case_id")

        class Meta:
            table_name = "export"

    database.bind([Export, ExportCase])
    modules = {
        "frigate.comms": types.ModuleType("frigate.comms"),
        "frigate.comms.inter_process": types.ModuleType("frigate.comms.inter_process"),
        "frigate.config": types.ModuleType("frigate.config"),
        "frigate.config.camera": types.ModuleType("frigate.config.camera"),
        "frigate.config.camera.record": types.ModuleType("frigate.config.camera.record"),
        "frigate.jobs": types.ModuleType("frigate.jobs"),
        "frigate.jobs.job": types.ModuleType("frigate.jobs.job"),
        "frigate.models": types.ModuleType("frigate.models"),
        "frigate.record": types.ModuleType("frigate.record"),
        "frigate.record.export": dropin,
        "frigate.types": types.ModuleType("frigate.types"),
    }
    modules["frigate.comms.inter_process"].InterProcessRequestor = object
    modules["frigate.config"].FrigateConfig = object
    modules["frigate.config.camera.record"].ChaptersEnum = ChaptersEnum
    modules["frigate.jobs.job"].Job = Job
    modules["frigate.models"].Export = Export
    modules["frigate.types"].JobStatusTypesEnum = JobStatusTypesEnum
    const.UPDATE_JOB_STATE = "update_job_state"
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("frigate.jobs.export", SOURCE)
    jobs = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "frigate.jobs.export", jobs)
    spec.loader.exec_module(jobs)
    return jobs, Export, database


class Publisher:
    """Stands in for the ZMQ publisher, as the NVR's own tests do."""

    def __init__(self):
        self.payloads = []
        self.lock = threading.Lock()

    def publish(self, payload):
        with self.lock:
            self.payloads.append(payload)


def test_the_nvrs_job_manager_runs_the_drop_in(built_stores, frigate_env, monkeypatch):
    const = frigate_env
    store = nvr_store_in(built_stores["nvr"], const)
    jobs, Export, database = load_job_manager(monkeypatch, const, store["db"])
    config = SimpleNamespace(
        database=SimpleNamespace(path=store["db"]),
        ui=SimpleNamespace(timezone="Europe/Berlin"),
        cameras={"front_door": SimpleNamespace(
            record=SimpleNamespace(export=SimpleNamespace(hwaccel_args="auto")))},
        record=SimpleNamespace(export=SimpleNamespace(max_concurrent=3)),
    )
    publisher = Publisher()
    manager = jobs.ExportJobManager(config, max_concurrent=3, publisher=publisher)
    s, e = int(store["start"]), int(store["end"])
    specs = {
        "front_door_job001": dict(request_start_time=s, request_end_time=e,
                                  chapters=ChaptersEnum.review_items),
        "front_door_job002": dict(request_start_time=s + 10, request_end_time=e - 10,
                                  chapters=ChaptersEnum.recording_segments),
        "front_door_job003": dict(request_start_time=s, request_end_time=s + 30,
                                  ffmpeg_input_args="", ffmpeg_output_args="-vf setpts=0.04*PTS -r 30"),
        "front_door_job004": dict(request_start_time=s - 7200, request_end_time=s - 3600),
    }
    for job_id, fields in specs.items():
        manager.enqueue(jobs.ExportJob(id=job_id, camera="front_door", **fields))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = {i: manager.get_job(i).status for i in specs}
        if all(st in (JobStatusTypesEnum.success, JobStatusTypesEnum.failed) for st in states.values()):
            break
        time.sleep(0.05)
    results = {i: manager.get_job(i) for i in specs}
    for job_id in ("front_door_job001", "front_door_job002", "front_door_job003"):
        job = results[job_id]
        assert job.status == JobStatusTypesEnum.success, (job_id, job.error_message)
        export = Export.get(Export.id == job_id)
        assert job.results["video_path"] == export.video_path
        assert export.video_path.startswith(const.EXPORT_DIR + "/")
        assert os.path.isfile(export.video_path)
        assert not export.in_progress
    failed = results["front_door_job004"]
    assert failed.status == JobStatusTypesEnum.failed
    assert failed.error_message == "Export failed"
    assert Export.get_or_none(Export.id == "front_door_job004") is None
    # Its progress reached the UI through the manager's own broadcasts.
    steps = {j["current_step"] for p in publisher.payloads for j in p["results"]["jobs"]}
    assert {"preparing", "copying", "encoding"} & steps, steps
    database.close()


def reference_validate():
    """The NVR's own ``validate_ffmpeg_args`` (and the constants it reads),
    taken out of its exporter module by its syntax tree: the module itself
    imports half of the NVR."""
    import ast
    import re

    tree = ast.parse((HEAD / "frigate_record_export.py").read_text())
    names = ("_base_flag", "_validate_filtergraph", "validate_ffmpeg_args")
    keep = [
        n for n in tree.body
        if (isinstance(n, ast.FunctionDef) and n.name in names)
        or (isinstance(n, ast.Assign)
            and any(getattr(t, "id", "").startswith(("_VALUE", "_FILTER", "_ALLOWED", "_SAFE", "_BLOCKED"))
                    for t in n.targets))
    ]
    ns = {"re": re}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(HEAD), "exec"), ns)
    return ns["validate_ffmpeg_args"]


def test_the_allowlist_agrees_with_the_nvrs_validation():
    from nvr_export.frigate import validate_ffmpeg_args

    nvr = reference_validate()
    accepted_by_both = [
        "-vf setpts=0.04*PTS -r 30", "-crf 23 -preset veryfast", "-vf scale=1280:-2",
        "-vf fps=5,scale=640:360", "-r 60 -g 60 -bf 0", "-an", "-b:v 2M -maxrate 3M -bufsize 6M",
        "-pix_fmt yuv420p", "-movflags +faststart", "-threads 2", "-aspect 16:9", "-fps_mode vfr",
        "-vsync 0", "-skip_frame nokey", "-vf transpose=1", "-vf crop=640:360:0:0", "-vf hflip,vflip",
        "-q:v 5", "-qp 20", "-profile:v high -level 4.1", "-tune film", "-sc_threshold 0",
        "-keyint_min 30", "-refs 3", "-qmin 10 -qmax 40", "-filter:v setpts=0.5*PTS", "-sn", "-dn",
        "-vf setsar=1,setdar=16/9", "",
    ]
    refused_by_both = [
        "-i /etc/passwd", "-vf movie=/etc/passwd", "-f null", "out.mp4", "-vf drawtext=text=hi",
        "-vf scale=1:1[x];[x]null", "-filter_complex scale=1:1", "-y", "-c:v libx264 /tmp/x.mp4",
        "-vf subtitles=filename=/etc/passwd", "-metadata title=x",
    ]
    for args in accepted_by_both:
        assert nvr(args)[0], args
        assert validate_ffmpeg_args(args) == (True, ""), args
    for args in refused_by_both:
        assert not nvr(args)[0], args
        ok, why = validate_ffmpeg_args(args)
        assert not ok and why, args
    # The one departure: a "custom encode" that copies is refused here with
    # a reason (export without arguments to copy); the NVR lets ffmpeg copy.
    assert nvr("-c:v copy")[0] and not validate_ffmpeg_args("-c:v copy")[0]
