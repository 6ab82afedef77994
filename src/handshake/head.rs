//! HTTP/1.1 head plumbing shared by the server and client parsers: the resumable
//! end-of-head scanner, line and header-field syntax, header iteration over the
//! borrowed head, and a counting output sink for exact-size encoding.

use super::{BuildError, HandshakeError};

/// What one scanning step found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// No end of head yet; call again with more bytes.
    Partial,
    /// The head is complete and is this many bytes long (terminator included).
    Complete(usize),
    /// No end of head within the configured maximum.
    TooLarge,
    /// A line feed without a preceding carriage return.
    BareLf,
}

/// Resumable search for the empty line that ends an HTTP/1.1 head.
///
/// The caller appends to one buffer and passes the whole filled prefix each time;
/// the scanner resumes where it stopped, so total work is linear in the head size.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Scanner {
    /// Offset up to which the buffer has been searched.
    pos: usize,
    /// Offset of the first byte of the current (unterminated) line.
    line_start: usize,
    /// Total bytes handed to `memchr` across calls (for the linear-time test).
    total: usize,
    /// Set once the head has been found.
    done: Option<usize>,
}

impl Scanner {
    /// Total bytes examined so far.
    pub(crate) fn scanned(&self) -> usize {
        self.total
    }

    /// Scan `buf` (the whole filled prefix of the caller's buffer).
    pub(crate) fn scan(&mut self, buf: &[u8], max: usize) -> Scan {
        if let Some(n) = self.done {
            if buf.len() >= n {
                return Scan::Complete(n);
            }
        }
        if buf.len() < self.pos {
            // The caller started over with a different buffer: start over too.
            *self = Scanner::default();
        }
        let limit = buf.len().min(max);
        let start = self.pos;
        let hay = buf.get(start..limit).unwrap_or(&[]);
        for off in memchr::memchr_iter(b'\n', hay) {
            let i = start + off;
            // RFC 9112 §2.2: a recipient MAY accept a bare LF as a line terminator; we do
            // not (it is a known request-smuggling vector), so a bare LF ends the parse.
            let cr = i.checked_sub(1).and_then(|p| buf.get(p));
            if cr != Some(&b'\r') {
                self.total += off + 1;
                return Scan::BareLf;
            }
            if i - 1 == self.line_start && i > 1 {
                // RFC 9112 §2.1: the head ends with an empty line (CRLF CRLF).
                self.total += off + 1;
                self.done = Some(i + 1);
                return Scan::Complete(i + 1);
            }
            self.line_start = i + 1;
        }
        self.total += hay.len();
        self.pos = limit;
        if buf.len() >= max {
            Scan::TooLarge
        } else {
            Scan::Partial
        }
    }
}

/// RFC 9110 §5.6.2: `tchar`, as a table (one load per byte of every field name).
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^'..=b'`' | b'|' | b'~');
        b += 1;
    }
    table
};

/// RFC 9110 §5.6.2: `tchar`.
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

/// RFC 9110 §5.6.2: `token = 1*tchar`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// RFC 9110 §5.5: field-value bytes are VCHAR, obs-text, SP and HTAB (no CTLs).
pub(crate) fn is_field_value(v: &[u8]) -> bool {
    // Branch-free over the whole value, so that LLVM vectorises it (headers are mostly values).
    v.iter().fold(true, |ok, &b| ok & ((b == b'\t') | ((b >= 0x20) & (b != 0x7f))))
}

/// `b` as `&str`: ASCII (almost every head) checked a word at a time, anything else by core.
#[inline]
pub(crate) fn to_str(b: &[u8]) -> Option<&str> {
    crate::utf8::ascii_str(b).or_else(|| core::str::from_utf8(b).ok())
}

/// Trim RFC 9110 §5.6.3 optional whitespace (SP / HTAB) from both ends.
pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Validate a header line and split it into name and trimmed value.
pub(crate) fn parse_field_line(line: &[u8]) -> Result<(&[u8], &[u8]), HandshakeError> {
    // RFC 9112 §5.2: obs-fold (a line starting with whitespace) is rejected with 400.
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(HandshakeError::ObsFold);
    }
    let colon = memchr::memchr(b':', line).ok_or(HandshakeError::MalformedHeader)?;
    let name = line.get(..colon).unwrap_or(&[]);
    let value = trim_ows(line.get(colon + 1..).unwrap_or(&[]));
    // RFC 9112 §5.1: no whitespace between field name and colon; name is a token.
    if !is_token(name) || !is_field_value(value) {
        return Err(HandshakeError::MalformedHeader);
    }
    Ok((name, value))
}

/// Splits a complete head (CRLF-terminated lines) into lines, without the CRLF.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Lines<'a> {
    pub(crate) fn new(block: &'a [u8]) -> Self {
        Lines { rest: block }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match memchr::memchr(b'\n', self.rest) {
            Some(i) => (self.rest.get(..i).unwrap_or(&[]), self.rest.get(i + 1..).unwrap_or(&[])),
            None => (self.rest, &[][..]),
        };
        self.rest = rest;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// Iterator over the header fields of a parsed head, in the order sent.
///
/// Yields `(name, value)` with the name as sent (compare it case-insensitively) and
/// the value with surrounding whitespace removed. Created by the `headers()` methods
/// of the parsed request and response types.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    lines: Lines<'a>,
}

impl<'a> Headers<'a> {
    /// `block` holds the field lines (each ending in CRLF), possibly followed by the
    /// final empty line.
    pub(crate) fn new(block: &'a [u8]) -> Self {
        Headers { lines: Lines::new(block) }
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a str, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = self.lines.next()?;
            if line.is_empty() {
                return None;
            }
            // Every line was validated once when the head was parsed (`parse_field_line`), so
            // lookups only split it; a line without a colon or with a non-ASCII name (neither
            // gets past the parser) is skipped.
            let Some(colon) = memchr::memchr(b':', line) else { continue };
            let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
            if let Some(name) = crate::utf8::ascii_str(name) {
                return Some((name, value));
            }
        }
    }
}

/// Iterator over the values of every field with one name (case-insensitive).
#[derive(Debug, Clone)]
pub struct HeaderValues<'a> {
    headers: Headers<'a>,
    name: &'a str,
}

impl<'a> HeaderValues<'a> {
    pub(crate) fn new(headers: Headers<'a>, name: &'a str) -> Self {
        HeaderValues { headers, name }
    }
}

impl<'a> Iterator for HeaderValues<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let name = self.name;
        self.headers.by_ref().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }
}

/// A source of header values by name: the borrowed head, or (with `http`) a `HeaderMap`.
pub(crate) trait Fields<'a>: Copy {
    type Values: Iterator<Item = &'a [u8]>;
    /// Every field as `(name, trimmed value)`, in the order sent.
    type All: Iterator<Item = (&'a str, &'a [u8])>;
    fn values(self, name: &'static str) -> Self::Values;
    /// Used by the `http` conversions (the HTTP/1.1 parser gathers fields as it validates).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    fn all(self) -> Self::All;

    fn count(self, name: &'static str) -> usize {
        self.values(name).count()
    }

    /// The value of a field that must appear at most once; `Err(())` if repeated.
    fn single(self, name: &'static str) -> Result<Option<&'a [u8]>, ()> {
        let mut it = self.values(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(());
        }
        Ok(first)
    }
}

impl<'a> Fields<'a> for Headers<'a> {
    type Values = HeaderValues<'a>;
    type All = Headers<'a>;
    fn values(self, name: &'static str) -> HeaderValues<'a> {
        HeaderValues::new(self, name)
    }
    fn all(self) -> Headers<'a> {
        self
    }
}

/// Writes into a caller buffer while counting, so one routine yields both the exact
/// encoded length and the bytes.
pub(crate) struct Sink<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Sink { buf, pos: 0 }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    pub(crate) fn put_str(&mut self, s: &str) {
        self.put(s.as_bytes());
    }

    pub(crate) fn put_usize(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.put(digits.get(i..).unwrap_or(&[]));
    }

    /// `name: value\r\n`
    pub(crate) fn field(&mut self, name: &str, value: &[u8]) {
        self.put_str(name);
        self.put(b": ");
        self.put(value);
        self.put(b"\r\n");
    }

    pub(crate) fn finish(self) -> Result<usize, BuildError> {
        if self.pos <= self.buf.len() {
            Ok(self.pos)
        } else {
            Err(BuildError::BufferTooSmall { needed: self.pos })
        }
    }
}

/// Run an encoder into a zero-length sink to learn its exact length.
pub(crate) fn measure(f: impl FnOnce(&mut Sink<'_>)) -> usize {
    let mut empty: [u8; 0] = [];
    let mut s = Sink::new(&mut empty);
    f(&mut s);
    s.pos
}

/// Encode into a fresh vector of exactly the right size.
#[cfg(feature = "alloc")]
pub(crate) fn to_vec(f: impl Fn(&mut Sink<'_>)) -> alloc::vec::Vec<u8> {
    let len = measure(&f);
    let mut v = alloc::vec![0u8; len];
    let mut s = Sink::new(&mut v);
    f(&mut s);
    v
}

/// Refuse header names that are not tokens and values that could split the message.
pub(crate) fn check_field(name: &str, value: &str) -> Result<(), BuildError> {
    // RFC 9110 §5.1 / §5.5: a name is a token; a value has no CR, LF or NUL (which
    // would let a caller-supplied value inject headers: response splitting).
    if !is_token(name.as_bytes()) || !is_field_value(value.as_bytes()) {
        return Err(BuildError::InvalidField);
    }
    Ok(())
}

/// Parse `HTTP/1.x` and return the minor version (RFC 9112 §2.3).
pub(crate) fn parse_http_version(v: &[u8]) -> Result<(u8, u8), HandshakeError> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            Ok((major - b'0', minor - b'0'))
        }
        _ => Err(HandshakeError::MalformedStartLine),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_resumes_and_reports_terminator() {
        let mut s = Scanner::default();
        let msg = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nXYZ";
        for n in 0..msg.len() {
            let r = s.scan(&msg[..n], 1024);
            if n < 27 {
                assert_eq!(r, Scan::Partial, "{n}");
            } else {
                assert_eq!(r, Scan::Complete(27));
            }
        }
        assert!(s.scanned() <= msg.len());
    }

    #[test]
    fn scanner_rejects_bare_lf_and_oversize() {
        assert_eq!(Scanner::default().scan(b"GET / HTTP/1.1\n", 99), Scan::BareLf);
        assert_eq!(Scanner::default().scan(b"\n", 99), Scan::BareLf);
        assert_eq!(Scanner::default().scan(b"GET / HTTP/1.1\r\n", 16), Scan::TooLarge);
        assert_eq!(Scanner::default().scan(b"GET / HTTP/1.1\r\n", 17), Scan::Partial);
        assert_eq!(Scanner::default().scan(b"A\r\n\r\n", 5), Scan::Complete(5));
    }

    #[test]
    fn field_lines() {
        assert_eq!(parse_field_line(b"Host:  x \t"), Ok((&b"Host"[..], &b"x"[..])));
        assert_eq!(parse_field_line(b"Host : x"), Err(HandshakeError::MalformedHeader));
        assert_eq!(parse_field_line(b" x"), Err(HandshakeError::ObsFold));
        assert_eq!(parse_field_line(b"x: a\rb"), Err(HandshakeError::MalformedHeader));
        assert_eq!(parse_field_line(b"nocolon"), Err(HandshakeError::MalformedHeader));
    }

    #[test]
    fn sink_counts_and_numbers() {
        assert_eq!(measure(|s| s.put_usize(0)), 1);
        assert_eq!(measure(|s| s.put_usize(usize::MAX)), 20);
        let mut b = [0u8; 3];
        let mut s = Sink::new(&mut b);
        s.put_usize(123);
        assert_eq!(s.finish(), Ok(3));
        assert_eq!(&b, b"123");
        let mut b = [0u8; 2];
        let mut s = Sink::new(&mut b);
        s.put_usize(123);
        assert_eq!(s.finish(), Err(BuildError::BufferTooSmall { needed: 3 }));
    }
}
