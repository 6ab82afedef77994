//! Plain HTTP: the page, and the browser test's `/gate` and `/done`.

use std::collections::HashMap;

use wsmachine::handshake::server::{reject, HttpRequest};

const PAGE: &str = include_str!("page.html");

/// Plain HTTP: the page, and the browser test's `/gate` and `/done`. `None`: hold as a gate.
pub fn plain(req: &HttpRequest<'_>, results: &mut HashMap<String, String>) -> (Option<Vec<u8>>, bool) {
    if req.method() != "GET" {
        return (Some(simple(405, "text/plain", b"only GET\n")), false);
    }
    let path = req.path().split('?').next().unwrap_or("");
    match path {
        "/" => (Some(simple(200, "text/html; charset=utf-8", PAGE.as_bytes())), false),
        "/gate" => (None, false),
        "/done" => {
            let id = query_param(req.path(), "id").unwrap_or_default();
            let result = query_param(req.path(), "result").unwrap_or_default();
            println!("browser result {id}: {result}");
            if results.len() >= 1024 {
                results.clear();
            }
            results.insert(id, result);
            (Some(simple(200, "text/plain", b"ok\n")), true)
        }
        "/favicon.ico" => (Some(simple(204, "text/plain", b"")), false),
        _ => (Some(simple(404, "text/plain", b"not found\n")), false),
    }
}

pub fn simple(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let headers = [("Content-Type", content_type), ("Cache-Control", "no-store")];
    reject(status, "", &headers, body).map(|r| r.response_vec()).unwrap_or_default()
}

pub fn gif_response() -> Vec<u8> {
    simple(200, "image/gif", super::test_page::GIF)
}

/// The value of `name` in a path's query string, percent-decoded.
pub fn query_param(path: &str, name: &str) -> Option<String> {
    super::test_page::query_param(path.split_once('?')?.1, name)
}
