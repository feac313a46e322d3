//! Codec parameter sets carried in MP4 sample descriptions.
//!
//! An MP4 track stores H.264 SPS/PPS in an `avcC` box (ISO/IEC 14496-15
//! §5.3.3.1) and HEVC VPS/SPS/PPS in an `hvcC` box (§8.3.3.1); samples are
//! NAL units each prefixed by a big-endian length of `lengthSizeMinusOne + 1`
//! bytes. libav exposes these boxes as the stream's extradata.
//!
//! One output track has one sample description (libav's mov muxer writes a
//! single `stsd` entry). When a later segment was recorded with different
//! parameter sets (the camera changed resolution or bitrate profile), its
//! keyframes get that segment's parameter sets prepended in-band, as NAL
//! units in the sample. Decoders (libav, browsers, players) apply in-band
//! parameter sets, so the file decodes across the change.

/// Parameter sets of one sample description, ready to prepend to a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InbandParams {
    /// Length-prefixed NAL units (4-byte lengths).
    pub nals: Vec<u8>,
}

/// Why parameter sets could not be expressed in-band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamsError {
    /// Extradata is not an avcC/hvcC record this module understands.
    Unrecognised,
    /// NAL length field size other than 4 bytes.
    LengthSize(u8),
}

/// Parses H.264 `avcC` extradata into in-band NAL units.
pub fn h264_inband(avcc: &[u8]) -> Result<InbandParams, ParamsError> {
    if avcc.len() < 7 || avcc[0] != 1 {
        return Err(ParamsError::Unrecognised);
    }
    let length_size = (avcc[4] & 0x03) + 1;
    if length_size != 4 {
        return Err(ParamsError::LengthSize(length_size));
    }
    let mut nals = Vec::new();
    let mut p = 5;
    let num_sps = (avcc[p] & 0x1f) as usize;
    p += 1;
    p = copy_nals(avcc, p, num_sps, &mut nals)?;
    let num_pps = *avcc.get(p).ok_or(ParamsError::Unrecognised)? as usize;
    p += 1;
    copy_nals(avcc, p, num_pps, &mut nals)?;
    Ok(InbandParams { nals })
}

/// Parses HEVC `hvcC` extradata into in-band NAL units (VPS, SPS, PPS, SEI arrays).
pub fn hevc_inband(hvcc: &[u8]) -> Result<InbandParams, ParamsError> {
    if hvcc.len() < 23 || hvcc[0] != 1 {
        return Err(ParamsError::Unrecognised);
    }
    let length_size = (hvcc[21] & 0x03) + 1;
    if length_size != 4 {
        return Err(ParamsError::LengthSize(length_size));
    }
    let num_arrays = hvcc[22] as usize;
    let mut p = 23;
    let mut nals = Vec::new();
    for _ in 0..num_arrays {
        // array_completeness(1) reserved(1) NAL_unit_type(6), numNalus(16)
        let n = read_u16(hvcc, p + 1)? as usize;
        p += 3;
        p = copy_nals(hvcc, p, n, &mut nals)?;
    }
    Ok(InbandParams { nals })
}

/// The `hvcC` record with `array_completeness` set on its VPS, SPS and PPS
/// arrays, as the `hvc1` sample entry requires (ISO/IEC 14496-15 §8.4.1:
/// for `hvc1` every parameter set is in the sample entry). `None` when one
/// of the three arrays is missing or empty: such a stream must stay `hev1`
/// (parameter sets in band).
pub fn hvcc_complete(hvcc: &[u8]) -> Option<Vec<u8>> {
    if hvcc.len() < 23 || hvcc[0] != 1 {
        return None;
    }
    let mut out = hvcc.to_vec();
    let mut seen = [false; 3];
    let mut p = 23;
    for _ in 0..hvcc[22] {
        let nal_type = *hvcc.get(p)? & 0x3f;
        let n = read_u16(hvcc, p + 1).ok()? as usize;
        if (32..=34).contains(&nal_type) && n > 0 {
            seen[(nal_type - 32) as usize] = true;
            out[p] |= 0x80;
        }
        p += 3;
        for _ in 0..n {
            let len = read_u16(hvcc, p).ok()? as usize;
            p += 2 + len;
        }
        if p > hvcc.len() {
            return None;
        }
    }
    seen.iter().all(|&s| s).then_some(out)
}

/// The NAL units of a length-prefixed (4-byte) H.264 / HEVC sample that
/// come before its first picture NAL unit: (its kind, the unit with its
/// length prefix).
fn units_before_picture(hevc: bool, sample: &[u8]) -> impl Iterator<Item = (Unit, &[u8])> {
    let mut p = 0usize;
    std::iter::from_fn(move || {
        if p + 5 > sample.len() {
            return None;
        }
        let len =
            u32::from_be_bytes([sample[p], sample[p + 1], sample[p + 2], sample[p + 3]]) as usize;
        let header = sample[p + 4];
        let kind = if hevc {
            match (header >> 1) & 0x3f {
                t if t < 32 => Unit::Picture,
                33 => Unit::Sps,
                32 | 34 => Unit::OtherSet,
                _ => Unit::Other,
            }
        } else {
            match header & 0x1f {
                1..=5 => Unit::Picture,
                7 => Unit::Sps,
                8 => Unit::OtherSet,
                _ => Unit::Other,
            }
        };
        if kind == Unit::Picture {
            return None;
        }
        let end = (p + 4 + len).min(sample.len());
        let unit = &sample[p..end];
        p = end;
        Some((kind, unit))
    })
}

/// What a NAL unit is, for the parameter-set rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Picture,
    /// A sequence parameter set.
    Sps,
    /// A video (HEVC) or picture parameter set.
    OtherSet,
    Other,
}

/// The parameter-set NAL units a sample carries before its first picture
/// (VPS/SPS/PPS for HEVC, SPS/PPS for H.264), length-prefixed as in
/// [`InbandParams::nals`]; `None` when it carries none. What a decoder
/// will use from this sample on.
pub fn inband_sets(hevc: bool, sample: &[u8]) -> Option<Vec<u8>> {
    let sets: Vec<u8> = units_before_picture(hevc, sample)
        .filter(|(kind, _)| matches!(kind, Unit::Sps | Unit::OtherSet))
        .flat_map(|(_, unit)| unit.iter().copied())
        .collect();
    (!sets.is_empty()).then_some(sets)
}

/// Whether a length-prefixed (4-byte) H.264 / HEVC sample carries a
/// sequence parameter set before its first picture NAL unit, i.e. whether
/// the camera already sends its parameter sets in band on this keyframe.
pub fn carries_parameter_sets(hevc: bool, sample: &[u8]) -> bool {
    units_before_picture(hevc, sample).any(|(kind, _)| kind == Unit::Sps)
}

fn read_u16(b: &[u8], p: usize) -> Result<u16, ParamsError> {
    match b.get(p..p + 2) {
        Some(s) => Ok(u16::from_be_bytes([s[0], s[1]])),
        None => Err(ParamsError::Unrecognised),
    }
}

/// Copies `n` 16-bit-length-prefixed units starting at `p` as 32-bit-prefixed NALs.
fn copy_nals(b: &[u8], mut p: usize, n: usize, out: &mut Vec<u8>) -> Result<usize, ParamsError> {
    for _ in 0..n {
        let len = read_u16(b, p)? as usize;
        p += 2;
        let nal = b.get(p..p + len).ok_or(ParamsError::Unrecognised)?;
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(nal);
        p += len;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_to_inband() {
        // version 1, profile 66, compat 0, level 30, lengthSize 4, 1 SPS of 3 bytes, 1 PPS of 2 bytes
        let avcc = [1, 66, 0, 30, 0xff, 0xe1, 0, 3, 0x67, 1, 2, 1, 0, 2, 0x68, 9];
        let p = h264_inband(&avcc).unwrap();
        assert_eq!(p.nals, vec![0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x68, 9]);
        let mut short = avcc;
        short[4] = 0xfd; // lengthSize 2
        assert_eq!(h264_inband(&short), Err(ParamsError::LengthSize(2)));
        assert_eq!(h264_inband(&avcc[..10]), Err(ParamsError::Unrecognised));
    }

    #[test]
    fn hvcc_completeness_needs_vps_sps_pps() {
        let mut h = vec![1u8; 21];
        h.push(0x0f);
        h.push(3);
        h.extend_from_slice(&[0x20, 0, 1, 0, 2, 0x40, 1]); // VPS
        h.extend_from_slice(&[0x21, 0, 1, 0, 1, 0x42]); // SPS
        h.extend_from_slice(&[0x22, 0, 1, 0, 1, 0x44]); // PPS
        let c = hvcc_complete(&h).unwrap();
        assert_eq!(c[23], 0xa0);
        assert_eq!(c[30], 0xa1);
        assert_eq!(c[36], 0xa2);
        assert_eq!(c.len(), h.len());
        // Without a PPS array: not expressible as hvc1.
        h[22] = 2;
        h.truncate(36);
        assert_eq!(hvcc_complete(&h), None);
    }

    #[test]
    fn in_band_parameter_sets_are_recognised() {
        // H.264: AUD, SPS, PPS, IDR
        let s = [
            0, 0, 0, 1, 0x09, 0, 0, 0, 2, 0x67, 1, 0, 0, 0, 1, 0x68, 0, 0, 0, 1, 0x65,
        ];
        assert!(carries_parameter_sets(false, &s));
        // IDR only
        assert!(!carries_parameter_sets(false, &[0, 0, 0, 1, 0x65]));
        // HEVC: VPS (32), SPS (33), IDR (19)
        let h = [
            0, 0, 0, 2, 0x40, 1, 0, 0, 0, 2, 0x42, 1, 0, 0, 0, 2, 0x26, 1,
        ];
        assert!(carries_parameter_sets(true, &h));
        assert!(!carries_parameter_sets(true, &[0, 0, 0, 2, 0x26, 1]));
    }

    #[test]
    fn hvcc_to_inband() {
        let mut h = vec![1u8; 21];
        h.push(0x0f); // lengthSizeMinusOne = 3
        h.push(2); // two arrays
        h.extend_from_slice(&[0x20, 0, 1, 0, 2, 0x40, 1]); // VPS
        h.extend_from_slice(&[0x21, 0, 1, 0, 1, 0x42]); // SPS
        let p = hevc_inband(&h).unwrap();
        assert_eq!(p.nals, vec![0, 0, 0, 2, 0x40, 1, 0, 0, 0, 1, 0x42]);
    }
}
