//! Regression benches for the remux core on a small corpus (two minutes
//! recorded the way the NVR records: one continuous encode with B-frames and
//! audio, split by libav's segment muxer). Run with `cargo bench`;
//! `make bench` is the side-by-side comparison with cp and the ffmpeg CLI on
//! a full hour.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use nvr_export::sample::{self, nvr, SegmentSpec};
use nvr_export::{CancelToken, ChapterMode, ExportRequest, Exporter, Layout, WriterChoice};

fn corpus(dir: &Path) -> sample::SampleStore {
    let spec = SegmentSpec {
        width: 640,
        height: 360,
        fps: 30,
        gop: 60,
        b_frames: 2,
        bitrate: 1_000_000,
        noise: 16,
        ..SegmentSpec::small(120.0)
    };
    nvr::record_store(
        dir,
        "bench_cam",
        1_735_689_600.4,
        &[nvr::Session::new(spec)],
    )
    .expect("corpus")
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = corpus(dir.path());
    let exports = store.media_dir.join("exports");
    let mut group = c.benchmark_group("export_2min");
    group.sample_size(20);
    for (name, writer) in [("fast", WriterChoice::Auto), ("libav", WriterChoice::Libav)] {
        let exporter =
            Exporter::new(Layout::new(&store.db_path, &store.media_dir)).with_writer(writer);
        let req = ExportRequest {
            chapters: ChapterMode::RecordingSegments,
            ..ExportRequest::new(&store.camera, store.start_s() + 3.0, store.end_s() - 3.0)
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let o = exporter
                    .export(&req, &CancelToken::new(), |_| {})
                    .expect("export");
                std::fs::remove_file(&o.video_path).expect("remove");
            })
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&exports);
}

criterion_group!(benches, bench);
criterion_main!(benches);
