//! Records the linked libav's version and the hardware encoders it was built
//! with, for `nvr_export::hw`. The library itself is found by
//! ffmpeg-sys-next (pkg-config, or FFMPEG_DIR).

use std::path::PathBuf;

include!("src/hw_encoders.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/hw_encoders.rs");
    println!("cargo:rerun-if-env-changed=FFMPEG_DIR");
    let lib = pkg_config::Config::new()
        .cargo_metadata(false)
        .env_metadata(false)
        .probe("libavcodec");
    let fmt = pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("libavformat");
    let version = match (&fmt, &lib) {
        (Ok(f), Ok(c)) => format!("libavformat {} / libavcodec {}", f.version, c.version),
        _ => "unknown (pkg-config found no libavcodec)".to_string(),
    };
    // Encoder names are NUL-terminated strings in libavcodec's read-only
    // data when the encoder is compiled in.
    let mut found = Vec::new();
    if let Ok(c) = &lib {
        let dirs: Vec<PathBuf> = c.link_paths.clone();
        let candidates = dirs
            .iter()
            .chain(
                [
                    PathBuf::from("/usr/lib/x86_64-linux-gnu"),
                    PathBuf::from("/usr/lib/aarch64-linux-gnu"),
                    PathBuf::from("/usr/lib"),
                ]
                .iter(),
            )
            .flat_map(|d| {
                std::fs::read_dir(d)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
            })
            .filter(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().starts_with("libavcodec.so"))
                    .unwrap_or(false)
            })
            .collect::<Vec<_>>();
        if let Some(bytes) = candidates.iter().find_map(|p| std::fs::read(p).ok()) {
            for name in HW_ENCODERS {
                let mut needle = name.as_bytes().to_vec();
                needle.push(0);
                if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                    found.push(*name);
                }
            }
        }
    }
    println!("cargo:rustc-env=NVR_LIBAV_VERSION={version}");
    println!("cargo:rustc-env=NVR_LIBAV_HW_ENCODERS={}", found.join(","));
}
