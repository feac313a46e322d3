// The hardware encoders the export presets can ask for. Shared by build.rs
// (which looks for them in the linked libavcodec) and `hw` (which asks libav
// at run time); included as text by both.
pub const HW_ENCODERS: &[&str] = &[
    "h264_vaapi",
    "hevc_vaapi",
    "h264_qsv",
    "hevc_qsv",
    "h264_nvenc",
    "hevc_nvenc",
    "h264_v4l2m2m",
    "hevc_v4l2m2m",
    "h264_rkmpp",
    "hevc_rkmpp",
    "h264_nvmpi",
    "hevc_nvmpi",
    "h264_amf",
    "hevc_amf",
];
