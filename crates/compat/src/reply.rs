//! A route's answer: status, content type, extra headers and body.

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Reply { status, content_type, headers: Vec::new(), body }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Reply::new(status, "text/plain; charset=utf-8", body.as_bytes().to_vec())
    }

    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Reply::new(status, "application/json", body.to_string().into_bytes())
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}
