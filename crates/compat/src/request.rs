//! An API request as the compat handlers see it: method, path, merged query
//! string and form parameters, and the headers they read. Built once from
//! the HTTP transport at the edge, so every handler is a plain function of this value
//! and can be unit-tested without a socket.

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiMethod {
    Get,
    Post,
    Other(String),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApiRequest {
    pub method: Option<ApiMethod>,
    pub path: String,
    pub params: Params,
    /// lower-cased header name -> value (last one wins)
    pub headers: BTreeMap<String, String>,
}

impl ApiRequest {
    /// A GET request with the given query string, for handlers and tests.
    pub fn get(path: &str, query: &str) -> Self {
        ApiRequest {
            method: Some(ApiMethod::Get),
            path: path.to_string(),
            params: Params::parse(query),
            ..Default::default()
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_ascii_lowercase(), value.to_string());
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn is_get_or_post(&self) -> bool {
        matches!(self.method, Some(ApiMethod::Get | ApiMethod::Post))
    }
}

/// Parameters in arrival order; a name may repeat (`match[]=a&match[]=b`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(encoded: &str) -> Self {
        let pairs = form_urlencoded::parse(encoded.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        Params { pairs }
    }

    pub fn extend(&mut self, other: Params) {
        self.pairs.extend(other.pairs);
    }

    /// The first value of `name`, None when absent or empty (clients send `time=` for "now").
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeated_and_encoded_parameters() {
        let params = Params::parse("match%5B%5D=up&match[]=%7Bjob%3D%22a%22%7D&query=1+1&time=");
        assert_eq!(params.get_all("match[]"), vec!["up", "{job=\"a\"}"]);
        assert_eq!(params.get("query"), Some("1 1"));
        assert_eq!(params.get("time"), None);
        assert_eq!(params.get("missing"), None);
    }

    #[test]
    fn headers_are_case_insensitive() {
        let request = ApiRequest::get("/x", "").with_header("X-Loki-Response-Encoding-Flags", "categorize-labels");
        assert_eq!(request.header("x-loki-response-encoding-flags"), Some("categorize-labels"));
    }
}
