//! Records the linked libav's version and the hardware encoders it was built
//! with, for `nvr_export::hw`. The library itself is found by
//! ffmpeg-sys-next: pkg-config (the system's shared libav), or `FFMPEG_DIR`
//! (with the `vendored` feature: the static build of `vendor/ffmpeg`, whose
//! own dependencies, the libraries its `.pc` files list as private, are
//! linked from here).

use std::path::{Path, PathBuf};

include!("src/hw_encoders.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/hw_encoders.rs");
    println!("cargo:rerun-if-env-changed=FFMPEG_DIR");
    // ffmpeg-sys-next says which libav API it found (DEP_FFMPEG_FFMPEG_7_0
    // and the like): `libav7` where FFmpeg 7's removed the old fields.
    println!("cargo::rustc-check-cfg=cfg(libav7)");
    if std::env::var("DEP_FFMPEG_FFMPEG_7_0").is_ok_and(|v| v == "true") {
        println!("cargo:rustc-cfg=libav7");
    }
    let vendored = std::env::var_os("CARGO_FEATURE_VENDORED").is_some();
    let (version, libavcodec) = if vendored {
        vendored_libav()
    } else {
        system_libav()
    };
    // Encoder names are NUL-terminated strings in libavcodec's read-only
    // data when the encoder is compiled in.
    let mut found = Vec::new();
    if let Some(bytes) = libavcodec.and_then(|p| std::fs::read(p).ok()) {
        for name in HW_ENCODERS {
            let mut needle = name.as_bytes().to_vec();
            needle.push(0);
            if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                found.push(*name);
            }
        }
    }
    println!("cargo:rustc-env=NVR_LIBAV_VERSION={version}");
    println!("cargo:rustc-env=NVR_LIBAV_HW_ENCODERS={}", found.join(","));
}

/// The static libav under `FFMPEG_DIR`: links what it needs, and returns its
/// version and its libavcodec archive.
fn vendored_libav() -> (String, Option<PathBuf>) {
    let Some(dir) = std::env::var_os("FFMPEG_DIR").map(PathBuf::from) else {
        panic!(
            "the `vendored` feature links the libav built by vendor/ffmpeg/build.sh: \
             set FFMPEG_DIR to its prefix (the Makefile does: `make build`), or build \
             without the feature to use the system's libav"
        );
    };
    let pc = dir.join("lib/pkgconfig");
    println!("cargo:rerun-if-changed={}", pc.display());
    std::env::set_var("PKG_CONFIG_PATH", &pc);
    let libs = [
        "libavformat",
        "libavcodec",
        "libavfilter",
        "libswscale",
        "libswresample",
        "libavutil",
    ];
    let mut own = std::collections::HashSet::new();
    for l in libs {
        own.insert(l.trim_start_matches("lib").to_string());
    }
    let mut version = String::from("unknown");
    // Each library's private dependencies, once (the six .pc files repeat them).
    let mut linked = own.clone();
    for l in libs {
        let lib = pkg_config::Config::new()
            .cargo_metadata(false)
            .env_metadata(false)
            .statik(true)
            .probe(l)
            .unwrap_or_else(|e| panic!("{l} under {}: {e}", pc.display()));
        if l == "libavformat" {
            version = format!("libavformat {}", lib.version);
        }
        if l == "libavcodec" {
            version = format!("{version} / libavcodec {} (vendored, static)", lib.version);
        }
        for name in &lib.libs {
            if linked.insert(name.clone()) {
                println!("cargo:rustc-link-lib={name}");
            }
        }
    }
    // libx265 and OpenH264 are C++.
    println!("cargo:rustc-link-lib=stdc++");
    (version, Some(dir.join("lib/libavcodec.a")))
}

/// The system's shared libav through pkg-config.
fn system_libav() -> (String, Option<PathBuf>) {
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
    let Ok(c) = &lib else {
        return (version, None);
    };
    let dirs: Vec<PathBuf> = c.link_paths.clone();
    let found = dirs
        .iter()
        .chain(
            [
                PathBuf::from("/usr/lib/x86_64-linux-gnu"),
                PathBuf::from("/usr/lib/aarch64-linux-gnu"),
                PathBuf::from("/usr/lib"),
            ]
            .iter(),
        )
        .flat_map(|d: &PathBuf| {
            std::fs::read_dir(Path::new(d))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
        })
        .find(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().starts_with("libavcodec.so"))
                .unwrap_or(false)
        });
    (version, found)
}
