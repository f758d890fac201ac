//! Bearer-token check, and the browser rule of a server without a key.
//!
//! With no key configured every request passes the token check, with or
//! without an Authorization header, so clients set up for a keyed server keep
//! working against an open one. Such a server listens on loopback only, and
//! what stands between it and a web page the user has open is the browser:
//! a page can make the browser send requests to 127.0.0.1 (CSRF), and a
//! domain that re-resolves to 127.0.0.1 can read the answers (DNS
//! rebinding). So without a key a request must name a loopback host (or the
//! bind address) in `Host`, and an `Origin`, when sent, must be that same
//! host: servers, SDKs, Collectors and Grafana's server-side proxy send no
//! `Origin` and the host they connect to. With a key, the key protects: a
//! page cannot attach it, and no CORS header ever lets it read an answer.

pub fn authorized(api_key: Option<&str>, authorization: Option<&str>) -> bool {
    let Some(key) = api_key else { return true };
    let Some(value) = authorization else { return false };
    let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) else {
        return false;
    };
    constant_time_eq(token.trim().as_bytes(), key.as_bytes())
}

/// The request headers the browser rule looks at.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrowserHeaders<'a> {
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    /// `Sec-Fetch-Site`: browsers send it on every request, also on the
    /// cross-site GETs (an `<img>`, a `<script>`) that carry no Origin
    pub fetch_site: Option<&'a str>,
}

/// Why a request from a browser context is refused on a server without a
/// key; None when it may go on.
pub fn browser_refusal(api_key: Option<&str>, bind_host: &str, headers: BrowserHeaders<'_>) -> Option<String> {
    if api_key.is_some() {
        return None;
    }
    let BrowserHeaders { host, origin, fetch_site } = headers;
    let from_another_site =
        |site: &&str| site.trim().eq_ignore_ascii_case("cross-site") || site.trim().eq_ignore_ascii_case("same-site");
    if let Some(site) = fetch_site.filter(from_another_site) {
        return Some(format!(
            "Sec-Fetch-Site {site:?}: without api_key this server refuses requests from other web pages \
             (cross-site request guard)"
        ));
    }
    // HTTP/1.0 clients may leave Host out; browsers always send it
    if let Some(host) = host {
        if !is_local_authority(host, bind_host) {
            return Some(format!(
                "Host {host:?} is not a loopback name: without api_key this server answers only requests to \
                 localhost, a loopback address or {bind_host} (DNS rebinding guard)"
            ));
        }
    }
    let origin = origin?;
    let same_origin = origin_authority(origin).is_some_and(|authority| {
        is_local_authority(authority, bind_host) && host.is_some_and(|host| host.eq_ignore_ascii_case(authority))
    });
    if same_origin {
        return None;
    }
    Some(format!(
        "Origin {origin:?} is another site: without api_key this server refuses requests from web pages \
         (cross-site request guard)"
    ))
}

/// `host[:port]` of `http://host[:port]` or `https://...` (an Origin has no path).
fn origin_authority(origin: &str) -> Option<&str> {
    let lower = origin.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
    let rest = if lower.starts_with("http://") {
        &origin[7..]
    } else if lower.starts_with("https://") {
        &origin[8..]
    } else {
        return None;
    };
    (!rest.is_empty() && !rest.contains(['/', '?', '#', '@'])).then_some(rest)
}

/// `localhost`, `*.localhost` (RFC 6761: never resolved off the machine), a
/// loopback address or the bind host, each with or without a port.
fn is_local_authority(authority: &str, bind_host: &str) -> bool {
    let Some(host) = host_of(authority) else { return false };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.ends_with(".localhost")
        || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        || bare.eq_ignore_ascii_case(bind_host.trim_start_matches('[').trim_end_matches(']'))
}

/// The host of `host[:port]` / `[v6][:port]`; None when the port is not digits.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, rest) = authority.split_at(close + 1);
        (host, rest.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port_ok = port.is_none_or(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = !host.is_empty() && !host.contains([' ', '/', '@']);
    (port_ok && host_ok).then_some(host)
}

/// Compares without an early exit, so timing does not reveal a prefix match.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::{authorized, browser_refusal, BrowserHeaders};

    fn check(bind: &str, host: Option<&str>, origin: Option<&str>) -> Option<String> {
        browser_refusal(None, bind, BrowserHeaders { host, origin, fetch_site: None })
    }

    fn refused(host: Option<&str>, origin: Option<&str>) -> bool {
        check("127.0.0.1", host, origin).is_some()
    }

    #[test]
    fn without_a_key_only_loopback_hosts_are_served() {
        for host in [
            "localhost",
            "LOCALHOST:4318",
            "127.0.0.1",
            "127.0.0.1:4318",
            "127.9.9.9",
            "[::1]",
            "[::1]:4318",
            "grafana.localhost:4318",
            "localhost.",
        ] {
            assert!(!refused(Some(host), None), "{host}");
        }
        assert!(!refused(None, None), "no Host (HTTP/1.0): not a browser");
        for host in [
            "evil.example",
            "evil.example:4318",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.1",
            "0.0.0.0",
            "",
            "[::1",
            "localhost:http",
            "::1",
        ] {
            assert!(refused(Some(host), None), "{host}");
        }
        let message = check("127.0.0.1", Some("evil.example"), None).unwrap();
        assert_eq!(
            message,
            "Host \"evil.example\" is not a loopback name: without api_key this server answers only requests to \
             localhost, a loopback address or 127.0.0.1 (DNS rebinding guard)"
        );
    }

    #[test]
    fn the_bind_host_counts_as_local() {
        assert!(check("::1", Some("[::1]:9000"), None).is_none());
        assert!(check("127.0.0.5", Some("127.0.0.5:9000"), None).is_none());
    }

    #[test]
    fn without_a_key_an_origin_must_be_the_same_loopback_host() {
        assert!(!refused(Some("localhost:4318"), Some("http://localhost:4318")));
        assert!(!refused(Some("127.0.0.1:4318"), Some("HTTPS://127.0.0.1:4318")));
        for origin in [
            "http://evil.example",
            "null",
            "http://localhost:3000",
            "http://127.0.0.1:4318/x",
            "file://",
            "http://user@127.0.0.1:4318",
            "http://localhost:4318",
        ] {
            assert!(refused(Some("127.0.0.1:4318"), Some(origin)), "{origin}");
        }
        assert!(refused(None, Some("http://127.0.0.1:4318")), "an Origin with no Host to match");
        let message = check("127.0.0.1", Some("127.0.0.1:4318"), Some("http://evil.example")).unwrap();
        assert_eq!(
            message,
            "Origin \"http://evil.example\" is another site: without api_key this server refuses requests from web \
             pages (cross-site request guard)"
        );
    }

    #[test]
    fn without_a_key_cross_site_fetches_without_an_origin_are_refused() {
        let from = |site| BrowserHeaders { host: Some("127.0.0.1:4318"), origin: None, fetch_site: Some(site) };
        assert_eq!(
            browser_refusal(None, "127.0.0.1", from("cross-site")).unwrap(),
            "Sec-Fetch-Site \"cross-site\": without api_key this server refuses requests from other web pages \
             (cross-site request guard)"
        );
        assert!(browser_refusal(None, "127.0.0.1", from("same-site")).is_some(), "another port of localhost");
        assert!(browser_refusal(None, "127.0.0.1", from("same-origin")).is_none());
        assert!(browser_refusal(None, "127.0.0.1", from("none")).is_none(), "typed into the address bar");
    }

    #[test]
    fn with_a_key_the_key_is_the_guard() {
        let headers = BrowserHeaders {
            host: Some("evil.example"),
            origin: Some("http://evil.example"),
            fetch_site: Some("cross-site"),
        };
        assert!(browser_refusal(Some("k"), "0.0.0.0", headers).is_none());
    }

    #[test]
    fn open_server_accepts_anything() {
        assert!(authorized(None, None));
        assert!(authorized(None, Some("Bearer whatever")));
    }

    #[test]
    fn keyed_server_needs_the_exact_bearer_token() {
        assert!(authorized(Some("s3cret"), Some("Bearer s3cret")));
        assert!(!authorized(Some("s3cret"), None));
        assert!(!authorized(Some("s3cret"), Some("Bearer s3cre")));
        assert!(!authorized(Some("s3cret"), Some("Bearer s3cret2")));
        assert!(!authorized(Some("s3cret"), Some("Basic s3cret")));
    }
}
