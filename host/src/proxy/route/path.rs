//! Request paths as routes see them, in the one form the endpoint gets too: percent-
//! encoded unreserved characters decoded and other escapes in upper case (RFC 3986
//! §6.2.2), `%2F` left encoded, empty segments merged (`//` is `/`), dot segments
//! removed (§5.2.4); a backslash or a dot segment with parameters (`..;`) refused, as
//! servers disagree on what they mean. Prefixes match by whole segments; a matched
//! prefix can be replaced.

use std::borrow::Cow;

/// A request target no route can safely be chosen for (answered 400).
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// `target` (path and query) with its path in canonical form; borrowed when it is
/// already. A target that is not a path (`*`, an authority) is left as it is.
#[inline]
pub fn normalize(target: &str) -> Result<Cow<'_, str>, Malformed> {
    let (path, query) = split_query(target);
    if !path.starts_with('/') || canonical(path) {
        return Ok(Cow::Borrowed(target));
    }
    canonicalize(path, query).map(Cow::Owned)
}

/// `path` (not in canonical form) in canonical form, then `query`: out of line, so
/// that the check most requests stop at costs no more than itself.
#[cold]
#[inline(never)]
fn canonicalize(path: &str, query: &str) -> Result<String, Malformed> {
    let decoded = decode_unreserved(path)?;
    let segments: Vec<&str> = decoded[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut kept: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, segment) in segments.into_iter().enumerate() {
        let dots = match segment {
            "." => 1,
            ".." => 2,
            _ if segment.starts_with(".;") || segment.starts_with("..;") => return Err(Malformed),
            // A dot segment behind an encoded slash: a server that decodes it first
            // would climb where the route did not look.
            _ if segment.contains("%2F") && segment.split("%2F").any(|s| s == "." || s == "..") => {
                return Err(Malformed);
            }
            "" if i < last => continue,
            _ => {
                kept.push(segment);
                continue;
            }
        };
        if dots == 2 {
            kept.pop();
        }
        // A path ending in a dot segment names a directory: it keeps its slash.
        if i == last {
            kept.push("");
        }
    }
    let mut out = String::with_capacity(path.len() + query.len());
    for segment in kept {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    out.push_str(query);
    Ok(out)
}

/// The path of `target` and its query (from the `?` on; empty when it has none).
pub fn split_query(target: &str) -> (&str, &str) {
    // A byte loop: most paths are short, and a searcher costs more to set up.
    match target.bytes().position(|b| b == b'?') {
        Some(at) => target.split_at(at),
        None => (target, ""),
    }
}

/// Whether `path` is in canonical form already: most are, and are looked at once.
fn canonical(path: &str) -> bool {
    let mut after_slash = false;
    for &b in path.as_bytes() {
        if b == b'%' || b == b'\\' || (after_slash && (b == b'/' || b == b'.')) {
            return false;
        }
        after_slash = b == b'/';
    }
    true
}

/// `path` with escapes of unreserved characters decoded and the others in upper case;
/// a backslash, or a `%` not followed by two hex digits, is malformed.
fn decode_unreserved(path: &str) -> Result<String, Malformed> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => return Err(Malformed),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(Malformed)?;
                let text = std::str::from_utf8(hex).map_err(|_| Malformed)?;
                let byte = u8::from_str_radix(text, 16).map_err(|_| Malformed)?;
                // An encoded backslash is a separator to some servers.
                if byte == b'\\' {
                    return Err(Malformed);
                }
                if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                    out.push(byte as char);
                } else {
                    out.push('%');
                    out.push_str(&text.to_ascii_uppercase());
                }
                i += 3;
            }
            _ => {
                // Up to the next escape or backslash, as it is.
                let run = bytes[i..]
                    .iter()
                    .position(|&b| b == b'%' || b == b'\\')
                    .map_or(bytes.len(), |n| i + n);
                out.push_str(&path[i..run]);
                i = run;
            }
        }
    }
    Ok(out)
}

/// Whether `path` begins with the whole segments of `prefix` (written without a
/// trailing `/`, except the root `/`, which every path begins with). A segment's
/// parameters (`/admin;x`) do not make it another segment.
pub fn has_prefix(path: &str, prefix: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    path.starts_with(prefix)
        && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/' | b';'))
}

/// `target` with the path `prefix` it begins with (see [`has_prefix`]) replaced by
/// `replacement`: `/v2/x` with `/v2` → `/` is `/x`. A target that is not a path is
/// left as it is.
pub fn replace_prefix(target: &str, prefix: &str, replacement: &str) -> String {
    if !target.starts_with('/') {
        return target.to_string();
    }
    let rest = match prefix {
        "/" => target,
        // A prefix the target does not begin with cuts nothing (never so when routed).
        _ => target.get(prefix.len()..).unwrap_or(target),
    };
    let mut out = String::with_capacity(replacement.len() + rest.len());
    out.push_str(replacement.trim_end_matches('/'));
    if !rest.starts_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    out
}

/// A request's host as routes match it: without its port or a final `.`. For an
/// authority both paths have checked (`valid_authority`: no user info), so the port is
/// the digits after the last `:`, found from the end.
pub fn bare_host(authority: &str) -> &str {
    let bytes = authority.as_bytes();
    let digits = bytes
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let host = match bytes.len().checked_sub(digits + 1) {
        Some(colon) if bytes[colon] == b':' => &authority[..colon],
        _ => authority,
    };
    host.strip_suffix('.').unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_removed_as_rfc_3986_says() {
        for (target, expected) in [
            ("/a/b/c", "/a/b/c"),
            ("/%61dmin", "/admin"),
            ("//admin", "/admin"),
            ("/a//b/", "/a/b/"),
            ("/a%2fb", "/a%2Fb"),
            ("/a%7e%41", "/a~A"),
            ("/", "/"),
            ("/a/./b", "/a/b"),
            ("/a/b/../c", "/a/c"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/..", "/"),
            ("/../../x", "/x"),
            ("/a/b/../../..", "/"),
            ("/a//b/../c", "/a/c"),
            ("/v2/%2e%2e/admin", "/admin"),
            ("/v2/%2E./admin?x=/../y", "/admin?x=/../y"),
            ("/v2/.%2e", "/"),
            ("/a/...", "/a/..."),
            ("/a/.b/c", "/a/.b/c"),
            ("/a/%2F/../b", "/a/b"),
            ("*", "*"),
            ("/.well-known/x", "/.well-known/x"),
        ] {
            assert_eq!(normalize(target).unwrap(), expected, "{target}");
        }
        assert!(matches!(normalize("/a/b?c=/../"), Ok(Cow::Borrowed(_))));
        assert!(matches!(normalize("/a;b/c"), Ok(Cow::Borrowed(_))));
        for malformed in [
            "/public/..;/admin",
            "/a/.;x/b",
            "/x/..%2Fadmin",
            "/a%2F../b",
            "/x/%2e%2E%2fadmin",
            "/x/..%5cadmin",
            "/a\\..\\b",
            "/a%2",
            "/a%zz",
        ] {
            assert_eq!(normalize(malformed), Err(Malformed), "{malformed}");
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(has_prefix("/v2", "/v2"));
        assert!(has_prefix("/v2/x", "/v2"));
        assert!(!has_prefix("/v2x", "/v2"));
        assert!(!has_prefix("/v", "/v2"));
        assert!(has_prefix("/v2;x/y", "/v2"));
        assert!(has_prefix("/anything", "/"));
        assert_eq!(replace_prefix("/v2/x?y", "/v2", "/"), "/x?y");
        assert_eq!(replace_prefix("/v2", "/v2", "/"), "/");
        assert_eq!(replace_prefix("/v2?q", "/v2", "/"), "/?q");
        assert_eq!(replace_prefix("/v2/x", "/v2", "/api/v3/"), "/api/v3/x");
        assert_eq!(replace_prefix("/x", "/", "/api"), "/api/x");
        assert_eq!(replace_prefix("*", "/", "/api"), "*");
    }

    #[test]
    fn hosts_lose_their_port_and_final_dot() {
        assert_eq!(bare_host("Api.Example.com:8443"), "Api.Example.com");
        assert_eq!(bare_host("example.com."), "example.com");
        assert_eq!(bare_host("[::1]:80"), "[::1]");
        assert_eq!(bare_host("[::1]"), "[::1]");
        assert_eq!(bare_host("[::1]:"), "[::1]");
        assert_eq!(bare_host("10.0.0.1:80"), "10.0.0.1");
        assert_eq!(bare_host("10.0.0.1"), "10.0.0.1");
        assert_eq!(bare_host("h"), "h");
    }
}
