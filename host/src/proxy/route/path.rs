//! Request paths as routes see them: dot segments removed (RFC 3986 §5.2.4, with `%2E`
//! taken for `.`, as a server decoding the path would), `%2F` left encoded; prefixes
//! matched by whole segments; and a matched prefix replaced.

use std::borrow::Cow;

/// `target` (path and query) with the dot segments of its path removed; borrowed when
/// it has none. A target that is not a path (`*`, an authority) is left as it is.
pub fn normalize(target: &str) -> Cow<'_, str> {
    let (path, query) = split_query(target);
    if !path.starts_with('/') || !has_dot_segment(path) {
        return Cow::Borrowed(target);
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut kept: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, segment) in segments.into_iter().enumerate() {
        match dots(segment) {
            1 => {}
            2 => {
                kept.pop();
            }
            _ => {
                kept.push(segment);
                continue;
            }
        }
        // A path ending in a dot segment names a directory: it keeps its slash.
        if i == last {
            kept.push("");
        }
    }
    let mut out = String::with_capacity(target.len());
    for segment in kept {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    out.push_str(query);
    Cow::Owned(out)
}

/// The path of `target` and its query (from the `?` on; empty when it has none).
pub fn split_query(target: &str) -> (&str, &str) {
    match target.find('?') {
        Some(at) => target.split_at(at),
        None => (target, ""),
    }
}

/// Whether some segment of `path` is `.` or `..` (spelt with `%2E` or not).
fn has_dot_segment(path: &str) -> bool {
    // Most paths have neither "/." nor "%2": a quick look rules them out.
    let bytes = path.as_bytes();
    let suspect = bytes
        .windows(2)
        .any(|w| w == b"/." || (w[0] == b'%' && w[1] == b'2'));
    suspect && path.split('/').any(|segment| dots(segment) > 0)
}

/// 1 for a `.` segment, 2 for `..`, 0 for any other.
fn dots(segment: &str) -> usize {
    let mut rest = segment.as_bytes();
    let mut count = 0;
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%2e") {
            rest = &rest[3..];
        } else {
            return 0;
        }
        count += 1;
        if count > 2 {
            return 0;
        }
    }
    count
}

/// Whether `path` begins with the whole segments of `prefix` (written without a
/// trailing `/`, except the root `/`, which every path begins with).
pub fn has_prefix(path: &str, prefix: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    path.starts_with(prefix) && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/'))
}

/// `target` with the path `prefix` it begins with (see [`has_prefix`]) replaced by
/// `replacement`: `/v2/x` with `/v2` → `/` is `/x`.
pub fn replace_prefix(target: &str, prefix: &str, replacement: &str) -> String {
    let rest = if prefix == "/" {
        target
    } else {
        &target[prefix.len()..]
    };
    let mut out = String::with_capacity(replacement.len() + rest.len());
    out.push_str(replacement.trim_end_matches('/'));
    if !rest.starts_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    out
}

/// A request's host as routes match it: without a port, user info or a final `.`.
pub fn bare_host(authority: &str) -> &str {
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        // An IPv6 literal: up to its closing bracket.
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
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
            ("/", "/"),
            ("/a/./b", "/a/b"),
            ("/a/b/../c", "/a/c"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/..", "/"),
            ("/../../x", "/x"),
            ("/a/b/../../..", "/"),
            ("/a//b/../c", "/a//c"),
            ("/v2/%2e%2e/admin", "/admin"),
            ("/v2/%2E./admin?x=/../y", "/admin?x=/../y"),
            ("/v2/.%2e", "/"),
            ("/a/...", "/a/..."),
            ("/a/.b/c", "/a/.b/c"),
            ("/a%2F../b", "/a%2F../b"),
            ("/a/%2F/../b", "/a/b"),
            ("*", "*"),
            ("/.well-known/x", "/.well-known/x"),
        ] {
            assert_eq!(normalize(target), expected, "{target}");
        }
        assert!(matches!(normalize("/a/b?c=/../"), Cow::Borrowed(_)));
        assert!(matches!(normalize("/a/%2Fb"), Cow::Borrowed(_)));
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(has_prefix("/v2", "/v2"));
        assert!(has_prefix("/v2/x", "/v2"));
        assert!(!has_prefix("/v2x", "/v2"));
        assert!(!has_prefix("/v", "/v2"));
        assert!(has_prefix("/anything", "/"));
        assert_eq!(replace_prefix("/v2/x?y", "/v2", "/"), "/x?y");
        assert_eq!(replace_prefix("/v2", "/v2", "/"), "/");
        assert_eq!(replace_prefix("/v2?q", "/v2", "/"), "/?q");
        assert_eq!(replace_prefix("/v2/x", "/v2", "/api/v3/"), "/api/v3/x");
        assert_eq!(replace_prefix("/x", "/", "/api"), "/api/x");
    }

    #[test]
    fn hosts_lose_their_port_and_final_dot() {
        assert_eq!(bare_host("Api.Example.com:8443"), "Api.Example.com");
        assert_eq!(bare_host("example.com."), "example.com");
        assert_eq!(bare_host("[::1]:80"), "[::1]");
        assert_eq!(bare_host("user@h:1"), "h");
        assert_eq!(bare_host("h"), "h");
    }
}
