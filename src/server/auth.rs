//! Bearer-token check. With no key configured every request passes, with or
//! without an Authorization header, so clients set up for a keyed server keep
//! working against an open one.

pub fn authorized(api_key: Option<&str>, authorization: Option<&str>) -> bool {
    let Some(key) = api_key else { return true };
    let Some(value) = authorization else { return false };
    let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) else {
        return false;
    };
    constant_time_eq(token.trim().as_bytes(), key.as_bytes())
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
    use super::authorized;

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
