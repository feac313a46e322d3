//! Hardware presets: which encoder, on which device, with which frames.
//!
//! The NVR's table (`frigate-model.md`, step 4), plus `preset-vulkan` (a
//! scale step on a Vulkan device before a software encode: the device path
//! that runs here, on Mesa's software Vulkan driver) and `auto` (the first
//! hardware preset that initialises on this machine, else software).

use crate::media::hwctx::HwDevice;

/// How frames reach the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frames {
    /// System memory (libx264, nvenc, v4l2m2m, rkmpp, nvmpi, amf).
    System,
    /// Uploaded to the device after the filters (`format=nv12,hwupload`):
    /// vaapi, qsv.
    Device,
    /// Scaled on the device, downloaded for a software encoder (`hwupload,
    /// scale_vulkan,hwdownload`).
    DeviceScale,
}

/// One preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub encoder: &'static str,
    /// Device type and default device, when one is needed.
    pub device: Option<(&'static str, Option<&'static str>)>,
    pub frames: Frames,
    /// Encoder options the preset fixes (`profile`, `level`).
    pub options: &'static [(&'static str, &'static str)],
}

/// Software: libx264, the NVR's default (ultrafast, zerolatency).
pub const SOFTWARE: Preset = Preset {
    name: "default",
    encoder: "libx264",
    device: None,
    frames: Frames::System,
    options: &[],
};

/// The table, hardware presets in the order `auto` tries them.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "preset-vaapi",
        encoder: "h264_vaapi",
        device: Some(("vaapi", Some("/dev/dri/renderD128"))),
        frames: Frames::Device,
        options: &[],
    },
    Preset {
        name: "preset-intel-qsv-h264",
        encoder: "h264_qsv",
        device: Some(("qsv", None)),
        frames: Frames::Device,
        options: &[("profile", "high"), ("level", "41")],
    },
    Preset {
        name: "preset-intel-qsv-h265",
        encoder: "hevc_qsv",
        device: Some(("qsv", None)),
        frames: Frames::Device,
        options: &[("profile", "main"), ("level", "41")],
    },
    Preset {
        name: "preset-nvidia",
        encoder: "h264_nvenc",
        device: Some(("cuda", None)),
        frames: Frames::System,
        options: &[],
    },
    Preset {
        name: "preset-nvidia-h264",
        encoder: "h264_nvenc",
        device: Some(("cuda", None)),
        frames: Frames::System,
        options: &[],
    },
    Preset {
        name: "preset-nvidia-h265",
        encoder: "hevc_nvenc",
        device: Some(("cuda", None)),
        frames: Frames::System,
        options: &[],
    },
    Preset {
        name: "preset-rpi-64-h264",
        encoder: "h264_v4l2m2m",
        device: None,
        frames: Frames::System,
        options: &[],
    },
    Preset {
        name: "preset-rpi-64-h265",
        encoder: "hevc_v4l2m2m",
        device: None,
        frames: Frames::System,
        options: &[],
    },
    Preset {
        name: "preset-rkmpp",
        encoder: "h264_rkmpp",
        device: None,
        frames: Frames::System,
        options: &[],
    },
    Preset {
        name: "preset-rk-h265",
        encoder: "hevc_rkmpp",
        device: None,
        frames: Frames::System,
        options: &[],
    },
    Preset {
        name: "preset-jetson-h264",
        encoder: "h264_nvmpi",
        device: None,
        frames: Frames::System,
        options: &[],
    },
    Preset {
        name: "preset-jetson-h265",
        encoder: "hevc_nvmpi",
        device: None,
        frames: Frames::System,
        options: &[],
    },
    Preset {
        name: "preset-amd",
        encoder: "h264_amf",
        device: None,
        frames: Frames::System,
        options: &[],
    },
    Preset {
        name: "preset-vulkan",
        encoder: "libx264",
        device: Some(("vulkan", None)),
        frames: Frames::DeviceScale,
        options: &[],
    },
];

/// The preset named `name` (`default`, a table entry); an unknown name is
/// the software preset, as the NVR does.
pub fn by_name(name: &str) -> Preset {
    PRESETS
        .iter()
        .copied()
        .find(|p| p.name == name)
        .unwrap_or(SOFTWARE)
}

/// The preset a request's `hwaccel` names: none, software; `auto`, the
/// first that works here ([`auto`]); else [`by_name`].
pub fn chosen(hwaccel: Option<&str>) -> Preset {
    match hwaccel {
        None => SOFTWARE,
        Some("auto") => auto().0,
        Some(name) => by_name(name),
    }
}

impl Preset {
    /// [`Preset::probe`] as the writers need it: the device, or a media
    /// error naming the preset and why.
    pub fn open_device(&self) -> crate::error::Result<Option<HwDevice>> {
        self.probe()
            .map_err(|why| crate::error::Error::media_state(format!("preset {}", self.name), why))
    }

    pub fn is_hardware(&self) -> bool {
        self.device.is_some() || self.encoder != "libx264"
    }

    /// Whether this preset initialises here: its encoder is in libav and
    /// its device opens. `Err` says why not.
    pub fn probe(&self) -> Result<Option<HwDevice>, String> {
        crate::media::init();
        // Software: libx264 where this libav has it, else OpenH264 (see
        // `media::encode::software_h264`).
        let encoder = if self.is_hardware() {
            self.encoder
        } else {
            crate::media::encode::software_h264()
        };
        if ffmpeg_next::encoder::find_by_name(encoder).is_none() {
            return Err(format!("encoder {encoder} is not in this libav"));
        }
        let device = match self.device {
            None => None,
            Some((kind, dev)) => Some(
                HwDevice::open(kind, dev)
                    .map_err(|e| format!("{kind} device {}: {e}", dev.unwrap_or("(default)")))?,
            ),
        };
        // An encoder that takes system frames must also open (v4l2m2m
        // needs its /dev/video node, nvenc a GPU): a small test open.
        if self.frames == Frames::System && self.is_hardware() {
            test_open(self.encoder).map_err(|e| format!("encoder {}: {e}", self.encoder))?;
        }
        Ok(device)
    }
}

/// Opens `name` for 320x240 yuv420p at 30 fps and closes it.
fn test_open(name: &str) -> Result<(), String> {
    use ffmpeg_next::{codec, format::Pixel, Rational};
    let c = ffmpeg_next::encoder::find_by_name(name).ok_or("not in this libav")?;
    let mut ctx = codec::context::Context::new_with_codec(c)
        .encoder()
        .video()
        .map_err(|e| e.to_string())?;
    ctx.set_width(320);
    ctx.set_height(240);
    ctx.set_format(Pixel::YUV420P);
    ctx.set_time_base(Rational(1, 30));
    ctx.set_frame_rate(Some(Rational(30, 1)));
    ctx.open().map(|_| ()).map_err(|e| {
        let said = crate::media::ffi::last_libav_error();
        let said = said.rsplit("] ").next().unwrap_or("").trim().to_string();
        if said.is_empty() {
            e.to_string()
        } else {
            format!("{said} ({e})")
        }
    })
}

/// `auto`: the first hardware preset (Vulkan scaling aside) that
/// initialises, else software; and why each other one did not.
pub fn auto() -> (Preset, Vec<(&'static str, String)>) {
    let mut why = Vec::new();
    for p in PRESETS.iter().filter(|p| p.frames != Frames::DeviceScale) {
        match p.probe() {
            Ok(_) => return (*p, why),
            Err(e) => why.push((p.name, e)),
        }
    }
    (SOFTWARE, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_unknown_names() {
        assert_eq!(by_name("preset-vaapi").encoder, "h264_vaapi");
        assert_eq!(
            by_name("preset-intel-qsv-h265").options,
            &[("profile", "main"), ("level", "41")]
        );
        assert_eq!(by_name("preset-something-else"), SOFTWARE);
        assert!(!SOFTWARE.is_hardware());
        assert!(by_name("preset-nvidia-h265").is_hardware());
    }

    #[test]
    fn a_missing_device_is_a_reason_not_a_crash() {
        // This machine has no /dev/dri render node and no CUDA: both are named.
        if std::path::Path::new("/dev/dri/renderD128").exists() {
            return;
        }
        let e = by_name("preset-vaapi").probe().err().unwrap_or_default();
        assert!(e.contains("vaapi") || e.contains("h264_vaapi"), "{e}");
        let (p, why) = auto();
        if p == SOFTWARE {
            assert!(why.len() >= 10, "{why:?}");
        }
    }

    /// The vendored libav has NVENC (nv-codec headers from the recipe): the
    /// encoders are registered, and the CUDA driver is looked for only at
    /// run time; without it the preset says so instead of failing to load.
    #[test]
    #[cfg(feature = "vendored")]
    fn vendored_nvenc_is_built_and_loads_cuda_at_run_time() {
        for name in ["h264_nvenc", "hevc_nvenc"] {
            assert!(
                crate::hw::BUILD_HW_ENCODERS.split(',').any(|e| e == name),
                "{}",
                crate::hw::BUILD_HW_ENCODERS
            );
            assert!(crate::hw::available_encoders().contains(&name));
        }
        let driver = ["/dev/nvidia0", "/dev/nvidiactl"]
            .iter()
            .any(|d| std::path::Path::new(d).exists());
        match by_name("preset-nvidia").probe() {
            Ok(_) => assert!(driver, "CUDA initialised without an NVIDIA device node"),
            Err(why) => {
                assert!(why.contains("cuda") || why.contains("nvenc"), "{why}");
            }
        }
    }
}
