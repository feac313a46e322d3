"""nvr-export in process: exports of an NVR's recordings to one MP4, by libav.

The engine is Rust (``nvr_export._native``); this module gives it a Python
face: typed results (:class:`ExportOutcome`), one exception class per kind
of failure (:class:`ExportError` and its subclasses), progress callbacks
that can never break an export, cancellation from any thread, and a job
queue. Every export runs with the GIL released; Ctrl-C cancels it cleanly.

    >>> ex = Exporter("/config/frigate.db", "/media/frigate")
    >>> out = ex.export("front_door", 1700000000, 1700000600,
    ...                 progress=lambda step, pct: print(step, pct))
    >>> out.video_path
    '/media/frigate/exports/front_door_20231114_221320-20231114_222320_x3k9q1.mp4'

The NVR's own exporter class has a drop-in in :mod:`nvr_export.frigate`.
"""

from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence, Tuple

from . import _native

__all__ = [
    "Exporter",
    "ExportQueue",
    "CancelToken",
    "ExportOutcome",
    "SkippedSegment",
    "ExportWarning",
    "Timings",
    "JobInfo",
    "JobEvent",
    "ExportError",
    "InvalidRequest",
    "NoRecordings",
    "Cancelled",
    "DiskFull",
    "StorageError",
    "DatabaseError",
    "MediaError",
    "VodError",
    "QueueFull",
    "NotServable",
    "Clip",
    "validate_ffmpeg_args",
    "libav_info",
    "verify",
    "keygen",
    "ManifestError",
    "DEFAULT_TIMELAPSE_ARGS",
]

log = logging.getLogger("nvr_export")

#: The NVR's default timelapse: 25x faster, 30 frames a second.
DEFAULT_TIMELAPSE_ARGS = "-vf setpts=0.04*PTS -r 30"

CancelToken = _native.CancelToken

# ----------------------------------------------------------------------------
# Errors


class ExportError(Exception):
    """An export failed. ``kind`` is the engine's stable name for the failure
    (the CLI's JSON ``kind``), ``retryable`` whether running it again may
    succeed, ``message`` what happened and what to do."""

    def __init__(self, kind: str, retryable: bool, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, message={self.message!r})"


class InvalidRequest(ExportError):
    """The request itself is wrong: range, names, camera, arguments, paths."""


class NoRecordings(ExportError):
    """Nothing is recorded (or previewed) in the range."""


class Cancelled(ExportError):
    """The export was cancelled; nothing was left behind."""


class DiskFull(ExportError):
    """The export folder's filesystem is full; nothing was left behind."""


class StorageError(ExportError):
    """The export folder cannot be written, or another file error."""


class DatabaseError(ExportError):
    """The catalogue could not be read or written."""


class MediaError(ExportError):
    """A recording could not be read or the media could not be written."""


class VodError(ExportError):
    """The NVR's HLS VOD server failed or answered something unusable."""


class QueueFull(ExportError):
    """The queue holds as many waiting jobs as it may."""


class ManifestError(ExportError):
    """A manifest, its signature or a signing key could not be made or read."""


class NotServable(ExportError):
    """This clip cannot be served as a virtual file (a re-encode, previews,
    segments that need the libav writer): export it instead."""


_ERROR_CLASSES = {
    "invalid_range": InvalidRequest,
    "invalid_name": InvalidRequest,
    "unknown_camera": InvalidRequest,
    "forbidden_argument": InvalidRequest,
    "forbidden_path": InvalidRequest,
    "range_too_long": InvalidRequest,
    "no_recordings": NoRecordings,
    "no_previews": NoRecordings,
    "cancelled": Cancelled,
    "disk_full": DiskFull,
    "unwritable_export_dir": StorageError,
    "io": StorageError,
    "database": DatabaseError,
    "media": MediaError,
    "unreadable_segment": MediaError,
    "unreadable_segments": MediaError,
    "vod": VodError,
    "queue_full": QueueFull,
    "not_servable": NotServable,
    "manifest": ManifestError,
}


def _error(native: BaseException) -> ExportError:
    kind, retryable, message = native.args
    return _ERROR_CLASSES.get(kind, ExportError)(kind, bool(retryable), message)


def _native_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except _native.NativeError as e:
        raise _error(e) from None


# ----------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class SkippedSegment:
    """A recording in range that was left out, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class ExportWarning:
    """Something to know about a finished export (``kind``: e.g.
    ``audio_dropped``, ``segments_skipped``, ``no_thumbnail``)."""

    kind: str
    message: str


@dataclass(frozen=True)
class Timings:
    """Seconds from the call: input probed, first sample written, done."""

    probed_s: float
    first_sample_s: float
    total_s: float


@dataclass(frozen=True)
class ExportOutcome:
    """A finished export: every field of the CLI's JSON ``done`` event."""

    id: str
    name: str
    video_path: str
    #: Empty when the export has no thumbnail.
    thumb_path: str
    duration_s: float
    chapters: int
    skipped: Tuple[SkippedSegment, ...]
    warnings: Tuple[ExportWarning, ...]
    #: ``fast`` (index-driven), ``libav``, ``hls`` or ``transcode``.
    writer: str
    fast_declined: Optional[str]
    timings: Timings
    video_packets: int
    audio_packets: int
    #: Audio packets of the source left out: before_start, after_end, overlap.
    audio_packets_dropped: Tuple[Tuple[str, int], ...]
    #: Sample bytes shared with the recordings (XFS/btrfs) and written.
    bytes_shared: int
    bytes_copied: int
    #: ``<export>.manifest.json``, when one was asked for.
    manifest_path: Optional[str] = None

    @property
    def bytes(self) -> int:
        """The sample bytes of the export, shared or written."""
        return self.bytes_shared + self.bytes_copied

    @classmethod
    def _from_record(cls, r: dict) -> "ExportOutcome":
        return cls(
            id=r["id"],
            name=r["name"],
            video_path=r["video_path"],
            thumb_path=r["thumb_path"],
            duration_s=float(r["duration_s"]),
            chapters=int(r["chapters"]),
            skipped=tuple(SkippedSegment(str(s["path"]), s["reason"]) for s in r["skipped"]),
            warnings=tuple(ExportWarning(w["kind"], w["message"]) for w in r["warnings"]),
            writer=r["writer"],
            fast_declined=r.get("fast_declined"),
            timings=Timings(**r["timings"]),
            video_packets=int(r["packets"]["video"]),
            audio_packets=int(r["packets"]["audio"]),
            audio_packets_dropped=tuple(sorted(r["audio_packets_dropped"].items())),
            bytes_shared=int(r["bytes"]["shared"]),
            bytes_copied=int(r["bytes"]["copied"]),
            manifest_path=r.get("manifest_path"),
        )


def _enum_value(v: Any) -> Any:
    """An Enum member's value (the NVR passes its own enums), else ``v``."""
    return getattr(v, "value", v)


def _request(
    camera: Optional[str],
    start: float,
    end: float,
    *,
    cameras: Optional[Sequence[str]] = None,
    mosaic: bool = False,
    name: Optional[str] = None,
    id: Optional[str] = None,
    timezone: Optional[str] = None,
    export_case_id: Optional[str] = None,
    chapters: Any = "review_items",
    source: Any = "recordings",
    thumbnail: Optional[str] = None,
    timelapse: bool = False,
    input_args: Optional[str] = None,
    output_args: Optional[str] = None,
    hwaccel: Optional[str] = None,
    cpu_fallback: bool = False,
    vod_base: Optional[str] = None,
    vod_url: Optional[str] = None,
    start_at: str = "keyframe",
    timestamps: bool = False,
    manifest: bool = False,
    sign_key: Optional[str] = None,
) -> str:
    """An export request as the engine's JSON (the CLI's batch job format)."""
    source = _enum_value(source)
    if vod_url is not None or vod_base is not None:
        source = "hls"
    if source == "hls":
        src: dict = {"kind": "hls", "url": vod_url, "base": vod_base}
    elif source in ("recordings", "preview"):
        src = {"kind": source}
    else:
        raise InvalidRequest(
            "invalid_name", False, f"unknown source {source!r}: use recordings, preview or hls"
        )
    chapters = _enum_value(chapters)
    start_at = _enum_value(start_at)
    if start_at not in ("keyframe", "exact"):
        raise InvalidRequest(
            "invalid_name", False, f"unknown start_at {start_at!r}: use keyframe or exact"
        )
    names = [str(c) for c in cameras] if cameras is not None else []
    if camera is None:
        camera = names[0] if names else ""
    req: dict = {
        "camera": camera,
        "cameras": names,
        "mosaic": bool(mosaic),
        "start": float(start),
        "end": float(end),
        "name": name,
        "id": id,
        "timezone": timezone or None,
        "export_case_id": export_case_id,
        "chapters": "none" if chapters is None else str(chapters),
        "source": src,
        "thumbnail": os.fspath(thumbnail) if thumbnail is not None else None,
        "start_at": start_at,
        "timestamps": bool(timestamps),
        "manifest": bool(manifest) or sign_key is not None,
        "sign_key": os.fspath(sign_key) if sign_key is not None else None,
    }
    if timelapse or input_args is not None or output_args is not None:
        req["encode"] = {
            "input_args": input_args or "",
            "output_args": output_args if output_args is not None
            else (DEFAULT_TIMELAPSE_ARGS if timelapse else ""),
            "hwaccel": hwaccel,
            "cpu_fallback": bool(cpu_fallback),
        }
    return json.dumps(req)


def _guarded(progress: Optional[Callable[[str, float], Any]]) -> Optional[Callable[[str, float], None]]:
    """``progress`` wrapped so that an exception inside it is logged and never
    reaches the export (as the NVR's ``_emit_progress``)."""
    if progress is None:
        return None

    def call(step: str, percent: float) -> None:
        try:
            progress(step, percent)
        except Exception:
            log.exception("export progress callback failed")

    return call


# ----------------------------------------------------------------------------
# The exporter


class Exporter:
    """The engine over one NVR layout: its catalogue ``db``, its media folder,
    and, where the NVR moves them, its cache, export and clips folders and
    extra recording folders. ``progress_interval_s``: least time between two
    progress calls within a step; ``max_rate``: most bytes a second an export
    writes (keeps it from starving the recorder's disk); ``index_cache_mib``:
    keep the segment indexes read, up to this many MiB, for later exports and
    clips (a backend serving clips: a clip over footage asked for before
    reads no segment header; a segment that changed is read again; 0: none).
    Thread-safe: one Exporter serves any number of exports at once, from any
    threads."""

    def __init__(
        self,
        db: "os.PathLike[str] | str",
        media_dir: "os.PathLike[str] | str",
        *,
        cache_dir: "os.PathLike[str] | str | None" = None,
        recordings_roots: Iterable["os.PathLike[str] | str"] = (),
        exports_dir: "os.PathLike[str] | str | None" = None,
        clips_dir: "os.PathLike[str] | str | None" = None,
        progress_interval_s: float = 0.25,
        max_rate: Optional[int] = None,
        index_cache_mib: int = 0,
    ) -> None:
        fs = lambda p: None if p is None else os.fspath(p)  # noqa: E731
        self._native = _native.Exporter(
            os.fspath(db),
            os.fspath(media_dir),
            cache_dir=fs(cache_dir),
            recordings_roots=[os.fspath(p) for p in recordings_roots],
            exports_dir=fs(exports_dir),
            clips_dir=fs(clips_dir),
            progress_interval_s=progress_interval_s,
            max_rate=max_rate,
            index_cache_mib=index_cache_mib,
        )

    def index_cache_stats(self) -> Optional[dict]:
        """``{"entries", "bytes", "hits", "misses"}`` of the index cache
        (``None`` without one)."""
        return json.loads(self._native.index_cache_stats())

    def export(
        self,
        camera: Optional[str],
        start: float,
        end: float,
        *,
        cameras: Optional[Sequence[str]] = None,
        mosaic: bool = False,
        name: Optional[str] = None,
        id: Optional[str] = None,
        timezone: Optional[str] = None,
        export_case_id: Optional[str] = None,
        chapters: Any = "review_items",
        source: Any = "recordings",
        thumbnail: Optional[str] = None,
        timelapse: bool = False,
        input_args: Optional[str] = None,
        output_args: Optional[str] = None,
        hwaccel: Optional[str] = None,
        cpu_fallback: bool = False,
        vod_base: Optional[str] = None,
        vod_url: Optional[str] = None,
        start_at: str = "keyframe",
        timestamps: bool = False,
        manifest: bool = False,
        sign_key: Optional[str] = None,
        progress: Optional[Callable[[str, float], Any]] = None,
        cancel: Optional[CancelToken] = None,
    ) -> ExportOutcome:
        """Exports ``camera`` over ``[start, end]`` (unix seconds) and returns
        the outcome; raises an :class:`ExportError` subclass, leaving no file
        and no row behind. ``progress(step, percent)``: ``preparing``, then
        ``copying`` (``encoding`` for re-encodes), then ``finalizing``; the
        percent never decreases within a step. ``start_at="exact"`` starts a
        recordings export at ``start`` itself instead of the keyframe before
        it (an edit list hides the pre-roll). ``timestamps=True`` adds a
        subtitle track showing the wall-clock time (in ``timezone``, else
        UTC) of every second of the output. ``manifest=True`` writes
        ``<export>.manifest.json`` (SHA-256 of the export and of its source
        segments); ``sign_key`` (a key from :func:`keygen`) also signs it.
        ``cameras=[...]`` (2 to 16; ``camera`` may be ``None`` or the first):
        one file with a track per camera on one wall-clock timeline (one
        export row, the first camera's); ``mosaic=True`` tiles them into one
        picture instead (re-encoded)."""
        req = _request(
            camera, start, end, cameras=cameras, mosaic=mosaic, name=name, id=id, timezone=timezone,
            export_case_id=export_case_id, chapters=chapters, source=source,
            thumbnail=thumbnail, timelapse=timelapse, input_args=input_args,
            output_args=output_args, hwaccel=hwaccel, cpu_fallback=cpu_fallback,
            vod_base=vod_base, vod_url=vod_url, start_at=start_at, timestamps=timestamps,
            manifest=manifest, sign_key=sign_key,
        )
        record = _native_call(self._native.export, req, _guarded(progress), cancel)
        return ExportOutcome._from_record(json.loads(record))

    def clip(
        self,
        camera: str,
        start: float,
        end: float,
        *,
        timezone: Optional[str] = None,
        chapters: Any = "review_items",
        start_at: str = "keyframe",
        timestamps: bool = False,
        cancel: Optional[CancelToken] = None,
    ) -> "Clip":
        """The MP4 :meth:`export` would write for this range by stream copy,
        as a read-only, seekable file object whose bytes are read on demand
        from the segments: nothing is written. For a web framework's range
        responses (``len(clip)``, ``clip.etag``, ``seek``/``read``)."""
        req = _request(
            camera, start, end, timezone=timezone, chapters=chapters, start_at=start_at,
            timestamps=timestamps,
        )
        return Clip(_native_call(self._native.clip, req, cancel))

    def migrate(
        self, cancel: Optional[CancelToken] = None, cameras: Optional[Sequence[str]] = None
    ) -> dict:
        """Gives every bare ``.mp4`` of the export folder a catalogue row;
        ``cameras``: the names to look for in file names (default: the
        catalogue's). Returns ``{"added": [...], "skipped": [...]}``."""
        names = None if cameras is None else [str(c) for c in cameras]
        return json.loads(_native_call(self._native.migrate, cancel, names))

    def recover(self, foreign_after: Optional[float] = None) -> dict:
        """Finishes what dead exports left (rows in progress, partial files);
        ``foreign_after`` (seconds): also settle rows no lock file owns whose
        file has not changed for that long. Returns what it did."""
        return json.loads(_native_call(self._native.recover, foreign_after))


class Clip(io.RawIOBase):
    """A virtual MP4 (:meth:`Exporter.clip`): read-only and seekable. Every
    read re-checks the segments it touches; one replaced since the clip was
    planned raises :class:`MediaError` (``unreadable_segment``), never other
    bytes."""

    def __init__(self, native: Any) -> None:
        super().__init__()
        self._clip = native
        self._pos = 0

    @property
    def etag(self) -> str:
        """A strong HTTP entity tag (quoted)."""
        return self._clip.etag

    @property
    def content_type(self) -> str:
        return self._clip.content_type

    def __len__(self) -> int:
        return len(self._clip)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = len(self._clip) + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def read_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` (fewer at the end), position unchanged."""
        return _native_call(self._clip.read_at, offset, size)

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        data = self.read_at(self._pos, len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, len(self._clip) - self._pos)
        data = self.read_at(self._pos, size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)


# ----------------------------------------------------------------------------
# The queue


@dataclass(frozen=True)
class JobInfo:
    """A snapshot of a queued job."""

    id: str
    camera: str
    export_case_id: Optional[str]
    #: queued, running, success, failed or cancelled.
    state: str
    step: Optional[str]
    percent: float
    queued_at_s: float
    started_at_s: Optional[float]
    finished_at_s: Optional[float]
    error: Optional[ExportError] = field(default=None, compare=False)
    result: Optional[ExportOutcome] = None

    @classmethod
    def _from_json(cls, j: dict) -> "JobInfo":
        err = j.get("error")
        res = j.get("result")
        return cls(
            id=j["id"],
            camera=j["camera"],
            export_case_id=j.get("export_case_id"),
            state=j["state"],
            step=j.get("step"),
            percent=float(j["percent"]),
            queued_at_s=float(j["queued_at_s"]),
            started_at_s=j.get("started_at_s"),
            finished_at_s=j.get("finished_at_s"),
            error=None if err is None else _ERROR_CLASSES.get(err["kind"], ExportError)(
                err["kind"], bool(err["retryable"]), err["message"]),
            result=None if res is None else ExportOutcome._from_record(res),
        )


@dataclass(frozen=True)
class JobEvent:
    """What a subscriber is told: ``event`` is ``state`` (delivered at once, in
    order) or ``progress`` (coalesced per job)."""

    event: str
    job: JobInfo


class ExportQueue:
    """Exports run by worker threads, ``max_concurrent`` at once and up to
    ``max_waiting`` more waiting. Start-up recovery runs first (its report is
    :attr:`recovered`). As a context manager, leaving it cancels every job
    and waits for the workers."""

    def __init__(
        self,
        exporter: Exporter,
        max_concurrent: int = 3,
        max_waiting: int = 100,
        *,
        keep_finished_s: float = 5.0,
        progress_interval_s: float = 1.0,
    ) -> None:
        self._native = _native_call(
            _native.ExportQueue, exporter._native, max_concurrent=max_concurrent,
            max_waiting=max_waiting, keep_finished_s=keep_finished_s,
            progress_interval_s=progress_interval_s,
        )
        self.recovered: dict = json.loads(self._native.recovered)

    def submit(self, camera: str, start: float, end: float, **request: Any) -> str:
        """Queues an export (the keywords of :meth:`Exporter.export`, without
        ``progress``/``cancel``: subscribe and :meth:`cancel` instead);
        returns its job id, which is the export id."""
        return _native_call(self._native.submit, _request(camera, start, end, **request))

    def cancel(self, job_id: str) -> bool:
        """Cancels a waiting or running job; False when it is unknown or done."""
        return self._native.cancel(job_id)

    def jobs(self) -> Sequence[JobInfo]:
        """The live jobs (finished ones stay ``keep_finished_s``)."""
        return [JobInfo._from_json(j) for j in json.loads(self._native.jobs())]

    def wait(self, job_id: str, timeout: float = 3600.0) -> Optional[JobInfo]:
        """Waits for a job to finish; ``None`` if unknown or still running."""
        text = self._native.wait(job_id, timeout)
        return None if text is None else JobInfo._from_json(json.loads(text))

    def subscribe(self, callback: Callable[[JobEvent], Any]) -> None:
        """Calls ``callback(event)`` for every state change and coalesced
        progress, on a thread of its own; its exceptions are logged."""

        def deliver(text: str) -> None:
            try:
                j = json.loads(text)
                callback(JobEvent(j["event"], JobInfo._from_json(j["job"])))
            except Exception:
                log.exception("export queue subscriber failed")

        self._native.subscribe(deliver)

    def shutdown(self) -> None:
        """Cancels every job and waits for the workers. Idempotent."""
        self._native.shutdown()

    def __enter__(self) -> "ExportQueue":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


def validate_ffmpeg_args(args: Optional[str]) -> Tuple[bool, str]:
    """``(True, "")`` when NVR-style ffmpeg arguments pass the engine's
    allowlist, else ``(False, reason)``. Only allowlisted options ever reach
    libav; this is the same verdict an export would give."""
    if not args or not args.strip():
        return True, ""
    return _native.validate_ffmpeg_args(args)


def verify(path: str, key: Optional[str] = None) -> dict:
    """Checks an export against its ``<export>.manifest.json`` (and the
    manifest's signature with the public ``key``): recomputes the export's
    SHA-256 and those of its source segments that still exist. Returns the
    report (``export_matches``, ``signature``, ``sources`` with ``state``
    ``same``/``changed``/``gone``, ``problems``) with ``exit_code``: 0 all
    holds, 1 the export or manifest was altered or the signature fails, 3 the
    export holds but sources changed or are gone."""
    return json.loads(
        _native_call(_native.verify, os.fspath(path), os.fspath(key) if key is not None else None)
    )


def keygen(directory: str) -> Tuple[str, str]:
    """Writes a new Ed25519 signing key pair into ``directory``
    (``export-signing.key``, mode 0600, and ``export-signing.pub``)."""
    secret, public = _native_call(_native.keygen, os.fspath(directory))
    return os.fspath(secret), os.fspath(public)


def libav_info() -> dict:
    """The libav this module runs on: version, licence, hardware encoders."""
    return json.loads(_native.libav_info())
