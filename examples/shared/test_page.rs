//! Bits of HTTP the examples' browser test pages share (`/gate` and `/done`, see
//! `tests/browser/run.sh`): included by `echo_server`, `hyper_server` and `chat` with
//! `#[path]`, so that each example stays one program to read.

/// A 1x1 transparent GIF: the `/gate` image, answered once the page reported its result.
pub const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\
\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

/// The value of `name` in a query string, percent-decoded (`+` is a space).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    let value = query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })?;
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_params_are_percent_decoded() {
        let q = "id=a%20b&result=PASS+ok&bad=%zz&empty";
        assert_eq!(super::query_param(q, "id").as_deref(), Some("a b"));
        assert_eq!(super::query_param(q, "result").as_deref(), Some("PASS ok"));
        assert_eq!(super::query_param(q, "bad").as_deref(), Some("%zz"));
        assert_eq!(super::query_param(q, "empty").as_deref(), Some(""));
        assert_eq!(super::query_param(q, "none"), None);
    }
}
