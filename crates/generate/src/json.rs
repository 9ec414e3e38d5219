//! Hand-written JSON output: strings, integers, one-decimal numbers and
//! RFC 3339 timestamps, straight into a byte buffer.

/// `s` as a JSON string literal, quotes included. Non-ASCII characters are
/// written as they are (the files are UTF-8); quotes, backslashes and control
/// characters are escaped.
pub(crate) fn push_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0x00..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A non-negative integer in decimal, at least `width` digits (zero-padded).
#[inline]
pub(crate) fn push_u64_padded(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let i = i.min(buf.len() - width.min(buf.len()));
    out.extend_from_slice(&buf[i..]);
}

#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    push_u64_padded(out, v, 1);
}

#[inline]
pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// A number of tenths as a decimal with exactly one digit after the point.
#[inline]
pub(crate) fn push_tenths(out: &mut Vec<u8>, tenths: u32) {
    push_u64(out, u64::from(tenths / 10));
    out.push(b'.');
    out.push(b'0' + (tenths % 10) as u8);
}

/// `"YYYY-MM-DDThh:mm:ssZ"`, quotes included, from the day's `YYYY-MM-DD`
/// and the seconds since its midnight.
#[inline]
pub(crate) fn push_timestamp(out: &mut Vec<u8>, date: &[u8; 10], second_of_day: u32) {
    let (h, m, s) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    let two = |v: u32| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
    out.push(b'"');
    out.extend_from_slice(date);
    out.push(b'T');
    out.extend_from_slice(&two(h));
    out.push(b':');
    out.extend_from_slice(&two(m));
    out.push(b':');
    out.extend_from_slice(&two(s));
    out.extend_from_slice(b"Z\"");
}
