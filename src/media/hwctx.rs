//! Hardware device and frames contexts (the unsafe calls ffmpeg-next does
//! not wrap), in one small module.
//!
//! * [`HwDevice::open`]: `av_hwdevice_ctx_create` for a device type
//!   (`vaapi`, `qsv`, `cuda`, `vulkan`...) and an optional device path.
//! * [`HwDevice::attach_to_graph`]: gives the device to every filter of a
//!   graph before it is configured, so `hwupload` (and the `*_vulkan`
//!   filters) run on it. Frames cross between system and device memory only
//!   where the graph says (`hwupload`, `hwdownload`).
//! * [`give_sink_frames_to_encoder`]: an encoder that takes device frames
//!   (`h264_vaapi`, `h264_qsv`) gets the frames context the graph's output
//!   produces (`hw_frames_ctx`), before it is opened.

use std::ffi::CString;
use std::ptr;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::ffi as sys;

/// An open hardware device (a reference-counted `AVHWDeviceContext`).
pub struct HwDevice {
    buf: *mut sys::AVBufferRef,
    pub kind: String,
}

// SAFETY: an AVBufferRef to a device context may be used and released from
// any thread (libav's device contexts are reference counted atomically).
unsafe impl Send for HwDevice {}

impl HwDevice {
    /// Opens a device of type `kind` (`vaapi`, `qsv`, `cuda`, `vulkan`...)
    /// at `device` (a render node path, a GPU index) or the default one.
    /// `Err` carries libav's reason.
    pub fn open(kind: &str, device: Option<&str>) -> Result<HwDevice, String> {
        crate::media::init();
        let ckind = CString::new(kind).map_err(|_| "bad device type".to_string())?;
        let cdev = match device {
            Some(d) => Some(CString::new(d).map_err(|_| "bad device path".to_string())?),
            None => None,
        };
        // SAFETY: valid NUL-terminated strings; on success `buf` owns one
        // reference, released in Drop; on failure nothing is allocated.
        unsafe {
            let t = sys::av_hwdevice_find_type_by_name(ckind.as_ptr());
            if t == sys::AVHWDeviceType::AV_HWDEVICE_TYPE_NONE {
                return Err(format!("this libav has no {kind} support"));
            }
            let mut buf = ptr::null_mut();
            let r = sys::av_hwdevice_ctx_create(
                &mut buf,
                t,
                cdev.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
                ptr::null_mut(),
                0,
            );
            if r < 0 || buf.is_null() {
                let said = crate::media::ffi::last_libav_error();
                let said = said.rsplit("] ").next().unwrap_or("").trim().to_string();
                let code = ffmpeg::Error::from(r).to_string();
                return Err(if said.is_empty() {
                    code
                } else {
                    format!("{said} ({code})")
                });
            }
            Ok(HwDevice {
                buf,
                kind: kind.to_string(),
            })
        }
    }

    /// Gives this device to every filter of `graph` that has none yet. Call
    /// after parsing the graph and before validating (configuring) it.
    pub fn attach_to_graph(&self, graph: &mut ffmpeg::filter::Graph) -> Result<(), String> {
        // SAFETY: the graph's filter array is valid while `graph` is borrowed
        // mutably; each filter takes its own reference to the device.
        unsafe {
            let g = graph.as_mut_ptr();
            for i in 0..(*g).nb_filters as usize {
                let f = *(*g).filters.add(i);
                if !f.is_null() && (*f).hw_device_ctx.is_null() {
                    let r = sys::av_buffer_ref(self.buf);
                    if r.is_null() {
                        return Err("out of memory".into());
                    }
                    (*f).hw_device_ctx = r;
                }
            }
        }
        Ok(())
    }
}

impl Drop for HwDevice {
    fn drop(&mut self) {
        // SAFETY: releases the one reference this value owns.
        unsafe { sys::av_buffer_unref(&mut self.buf) }
    }
}

/// Sets the encoder's `hw_frames_ctx` to the frames context of the graph's
/// sink (when its frames live on a device). Call before opening the encoder.
/// Returns whether the sink produces device frames.
pub fn give_sink_frames_to_encoder(
    sink: &mut ffmpeg::filter::Context,
    encoder: &mut ffmpeg::codec::context::Context,
) -> bool {
    // SAFETY: both contexts are live and borrowed mutably; the encoder takes
    // its own reference to the frames context.
    unsafe {
        let frames = sys::av_buffersink_get_hw_frames_ctx(sink.as_mut_ptr());
        if frames.is_null() {
            return false;
        }
        let enc = encoder.as_mut_ptr();
        if !(*enc).hw_frames_ctx.is_null() {
            sys::av_buffer_unref(&mut (*enc).hw_frames_ctx);
        }
        (*enc).hw_frames_ctx = sys::av_buffer_ref(frames);
        !(*enc).hw_frames_ctx.is_null()
    }
}
