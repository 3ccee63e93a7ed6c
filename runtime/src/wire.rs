//! Confluent's wire format: magic byte 0, the schema id as 4 big-endian bytes, then the Avro
//! binary datum.

use crate::error::{DecodeError, DecodeErrorKind};

/// The first byte of every framed record.
pub const MAGIC: u8 = 0;

/// The length of the header: magic byte and schema id.
pub const HEADER_LEN: usize = 5;

/// The schema id and the datum of a framed record.
pub fn split_frame(record: &[u8]) -> Result<(u32, &[u8]), DecodeError> {
    if record.len() < HEADER_LEN {
        return Err(DecodeError::new(DecodeErrorKind::TruncatedHeader(record.len()), 0));
    }
    if record[0] != MAGIC {
        return Err(DecodeError::new(DecodeErrorKind::UnknownMagicByte(record[0]), 0));
    }
    let id = u32::from_be_bytes(record[1..HEADER_LEN].try_into().expect("4 bytes"));
    Ok((id, &record[HEADER_LEN..]))
}

/// Appends the header of a record written with schema `id`.
pub fn write_header(out: &mut Vec<u8>, id: u32) {
    out.push(MAGIC);
    out.extend_from_slice(&id.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips() {
        let mut out = Vec::new();
        write_header(&mut out, 0x0102_0304);
        out.push(42);
        assert_eq!(out, [0, 1, 2, 3, 4, 42]);
        assert_eq!(split_frame(&out).unwrap(), (0x0102_0304, &[42][..]));
    }

    #[test]
    fn a_bad_header_is_an_error_not_a_guess() {
        assert_eq!(
            split_frame(&[0, 0, 1]).unwrap_err().to_string(),
            "cannot decode at byte 0: a framed record of 3 byte(s) is shorter than the 5-byte header"
        );
        assert_eq!(
            split_frame(&[1, 0, 0, 0, 7, 0]).unwrap_err().to_string(),
            "cannot decode at byte 0: unknown magic byte 1: Confluent framing starts with 0"
        );
    }
}
