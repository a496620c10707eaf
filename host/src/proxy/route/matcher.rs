//! What a route matches: its conditions built from a `match` table, tested cheapest
//! first, with no allocation; and whether one route's conditions cover another's (it
//! would shadow it).

use super::path::{has_prefix, normalize};
use crate::config::model::{HeaderMatchConfig, MatchConfig};
use regex::Regex;
use switchyard_policy::RequestView;

/// A request as routes see it.
pub struct Seen<'a, V> {
    /// Its host, without port (see [`bare_host`](super::path::bare_host)).
    pub host: Option<&'a str>,
    /// Its path without the query, dot segments removed.
    pub path: &'a str,
    /// The rest: method and headers.
    pub view: &'a V,
}

/// A route's conditions; all must hold.
#[derive(Debug)]
pub struct Matcher {
    host: Option<HostMatch>,
    method: Option<Box<str>>,
    path: Option<PathMatch>,
    /// Only gRPC (and gRPC-Web) calls.
    grpc: bool,
    headers: Box<[(Box<str>, HeaderMatch)]>,
}

/// A host condition, in lower case.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum HostMatch {
    Exact(Box<str>),
    /// `*.example.com`, kept as `.example.com`: any name ending with it.
    Suffix(Box<str>),
}

#[derive(Debug)]
enum PathMatch {
    /// Whole leading segments, without a trailing `/` (except the root).
    Prefix(Box<str>),
    Exact(Box<str>),
    /// With the literal every match begins with (often most of the path), looked at
    /// first: most paths fail on it without running the expression.
    Regex(Regex, Box<str>),
}

#[derive(Debug)]
enum HeaderMatch {
    Value(Box<str>),
    Present(bool),
    Regex(Regex),
}

impl Matcher {
    /// The conditions of `config`; the error is `key: reason`.
    pub fn new(config: &MatchConfig) -> Result<Self, String> {
        let host = config.host.as_deref().map(|host| {
            let host = host.to_ascii_lowercase();
            match host.strip_prefix('*') {
                Some(suffix) => HostMatch::Suffix(suffix.into()),
                None => HostMatch::Exact(host.into()),
            }
        });
        // In the canonical form requests are matched in (`%61` is `a`).
        let canonical = |key: &str, path: &str| {
            normalize(path)
                .map(|p| p.into_owned())
                .map_err(|_| format!("{key}: {path:?} is not a path"))
        };
        let path = if let Some(prefix) = &config.path_prefix {
            let prefix = canonical("path_prefix", prefix)?;
            let trimmed = prefix.trim_end_matches('/');
            Some(PathMatch::Prefix(
                if trimmed.is_empty() { "/" } else { trimmed }.into(),
            ))
        } else if let Some(path) = &config.path {
            Some(PathMatch::Exact(canonical("path", path)?.into()))
        } else if let Some(regex) = &config.path_regex {
            let compiled = whole("path_regex", regex)?;
            Some(PathMatch::Regex(compiled, literal_prefix(regex).into()))
        } else if let Some(service) = &config.grpc_service {
            Some(PathMatch::Prefix(format!("/{service}").into()))
        } else {
            config
                .grpc_method
                .as_ref()
                .map(|method| PathMatch::Exact(format!("/{method}").into()))
        };
        let headers = config
            .headers
            .iter()
            .map(|(name, condition)| {
                let condition = match condition {
                    HeaderMatchConfig::Value(value) => HeaderMatch::Value(value.as_str().into()),
                    HeaderMatchConfig::Present { present } => HeaderMatch::Present(*present),
                    HeaderMatchConfig::Regex { regex } => {
                        HeaderMatch::Regex(whole(&format!("headers.{name}.regex"), regex)?)
                    }
                };
                Ok((name.to_ascii_lowercase().into(), condition))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            host,
            method: config.method.as_deref().map(Into::into),
            path,
            grpc: config.grpc_service.is_some() || config.grpc_method.is_some(),
            headers,
        })
    }

    /// Whether it takes every request.
    pub fn is_empty(&self) -> bool {
        self.host.is_none()
            && self.method.is_none()
            && self.path.is_none()
            && !self.grpc
            && self.headers.is_empty()
    }

    /// Its path prefix, in canonical form and without a trailing `/` (except the root),
    /// when it has one.
    pub fn path_prefix(&self) -> Option<&str> {
        match &self.path {
            Some(PathMatch::Prefix(prefix)) => Some(prefix),
            _ => None,
        }
    }

    /// Its host condition, for the index by host.
    pub(super) fn host(&self) -> Option<&HostMatch> {
        self.host.as_ref()
    }

    /// The first path segment every request it matches has, when its path condition
    /// names one: a quick test before the whole one.
    pub(super) fn first_segment(&self) -> Option<&str> {
        let named = match &self.path {
            Some(PathMatch::Prefix(path) | PathMatch::Exact(path)) => {
                let rest = path.strip_prefix('/')?;
                // A single segment is whole: the request's ends there too.
                rest.split_once('/').map_or(rest, |(first, _)| first)
            }
            // Only a literal that goes past the first segment names it whole.
            Some(PathMatch::Regex(_, literal)) => literal.strip_prefix('/')?.split_once('/')?.0,
            None => return None,
        };
        (!named.is_empty() && !named.contains(';')).then_some(named)
    }

    /// Whether `request` meets every condition.
    pub fn matches<V: RequestView>(&self, request: &Seen<'_, V>) -> bool {
        if let Some(host) = &self.host {
            let Some(seen) = request.host else {
                return false;
            };
            let met = match host {
                HostMatch::Exact(name) => seen.eq_ignore_ascii_case(name),
                HostMatch::Suffix(suffix) => {
                    seen.len() > suffix.len()
                        && seen.as_bytes()[seen.len() - suffix.len()..]
                            .eq_ignore_ascii_case(suffix.as_bytes())
                }
            };
            if !met {
                return false;
            }
        }
        if let Some(method) = &self.method
            && request.view.method() != &**method
        {
            return false;
        }
        match &self.path {
            Some(PathMatch::Prefix(prefix)) if !has_prefix(request.path, prefix) => return false,
            Some(PathMatch::Exact(path)) if request.path != &**path => return false,
            Some(PathMatch::Regex(_, literal)) if !request.path.starts_with(&**literal) => {
                return false;
            }
            _ => {}
        }
        if self.grpc && !request.view.header("content-type").is_some_and(grpc_family) {
            return false;
        }
        let headers_met = self
            .headers
            .iter()
            .all(|(name, condition)| match condition {
                // By name: a value that is not text is there all the same.
                HeaderMatch::Present(present) => request.view.has_header(name) == *present,
                HeaderMatch::Value(expected) => request.view.header(name) == Some(&**expected),
                HeaderMatch::Regex(regex) => {
                    request.view.header(name).is_some_and(|v| regex.is_match(v))
                }
            });
        // The costliest last.
        headers_met
            && match &self.path {
                Some(PathMatch::Regex(regex, _)) => regex.is_match(request.path),
                _ => true,
            }
    }

    /// Whether every request `other` matches, this matches too: a route with these
    /// conditions before `other` leaves it nothing. Conservative: a regular expression
    /// covers only the same expression.
    pub fn covers(&self, other: &Matcher) -> bool {
        let host = match (&self.host, &other.host) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(HostMatch::Exact(a)), Some(HostMatch::Exact(b))) => a == b,
            (Some(HostMatch::Exact(_)), Some(HostMatch::Suffix(_))) => false,
            (Some(HostMatch::Suffix(a)), Some(HostMatch::Exact(b))) => {
                b.len() > a.len() && b.ends_with(&**a)
            }
            (Some(HostMatch::Suffix(a)), Some(HostMatch::Suffix(b))) => b.ends_with(&**a),
        };
        let method = self.method.is_none() || self.method == other.method;
        let path = match (&self.path, &other.path) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(PathMatch::Prefix(a)), Some(PathMatch::Prefix(b) | PathMatch::Exact(b))) => {
                has_prefix(b, a)
            }
            (Some(PathMatch::Exact(a)), Some(PathMatch::Exact(b))) => a == b,
            (Some(PathMatch::Regex(a, _)), Some(PathMatch::Regex(b, _))) => {
                a.as_str() == b.as_str()
            }
            _ => false,
        };
        let grpc = !self.grpc || other.grpc;
        let headers = self.headers.iter().all(|(name, condition)| {
            other.headers.iter().any(|(n, c)| {
                n == name
                    && match (condition, c) {
                        (HeaderMatch::Value(a), HeaderMatch::Value(b)) => a == b,
                        (
                            HeaderMatch::Present(true),
                            HeaderMatch::Value(_) | HeaderMatch::Regex(_),
                        ) => true,
                        (HeaderMatch::Present(a), HeaderMatch::Present(b)) => a == b,
                        (HeaderMatch::Regex(a), HeaderMatch::Regex(b)) => a.as_str() == b.as_str(),
                        _ => false,
                    }
            })
        });
        host && method && path && grpc && headers
    }
}

/// Whether a `content-type` is gRPC's or gRPC-Web's: `application/grpc` or
/// `application/grpc-web`, alone or followed by `+` or `;`.
fn grpc_family(value: &str) -> bool {
    let value = value.as_bytes();
    let Some(rest) = value
        .get(..16)
        .filter(|start| start.eq_ignore_ascii_case(b"application/grpc"))
        .map(|_| &value[16..])
    else {
        return false;
    };
    let rest = match rest.get(..4) {
        Some(web) if web.eq_ignore_ascii_case(b"-web") => &rest[4..],
        _ => rest,
    };
    matches!(rest.first(), None | Some(b'+' | b';'))
}

/// The literal text every whole match of `pattern` begins with: its characters up to the
/// first one with a meaning (less the last, when a quantifier follows it); none for a
/// pattern with an alternation anywhere.
fn literal_prefix(pattern: &str) -> &str {
    if pattern.contains('|') {
        return "";
    }
    let end = pattern
        .find(|c: char| "\\.^$*+?()[]{}".contains(c))
        .unwrap_or(pattern.len());
    let quantified = matches!(pattern[end..].chars().next(), Some('*' | '?' | '{' | '+'));
    let end = match quantified {
        // The quantifier applies to the last character only.
        true => pattern[..end].char_indices().last().map_or(0, |(i, _)| i),
        false => end,
    };
    &pattern[..end]
}

/// `pattern` compiled to match a whole value (checked alone first, so that it cannot
/// close the group that anchors it); the error is `key: reason`.
fn whole(key: &str, pattern: &str) -> Result<Regex, String> {
    let invalid =
        |e: regex::Error| format!("{key}: {pattern:?} is not a valid regular expression: {e}");
    let compile = |pattern: &str| {
        regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
    };
    compile(pattern).map_err(invalid)?;
    compile(&format!("^(?:{pattern})$")).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy::RequestInfo;

    fn matcher(text: &str) -> Matcher {
        let config: MatchConfig = toml::from_str(text).unwrap();
        Matcher::new(&config).unwrap()
    }

    fn request(method: &str, host: &str, path: &str, headers: &[(&str, &str)]) -> RequestInfo {
        RequestInfo {
            method: method.into(),
            authority: Some(host.into()),
            path: path.into(),
            client_addr: None,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn matches(m: &Matcher, r: &RequestInfo) -> bool {
        let seen = Seen {
            host: r.authority.as_deref(),
            path: &r.path,
            view: r,
        };
        m.matches(&seen)
    }

    #[test]
    fn each_condition_can_fail() {
        let m = matcher(
            r#"host = "*.Example.com"
               path_prefix = "/v2/"
               method = "POST"
               headers = { x-env = "canary", x-user = { present = true }, x-id = { regex = "[0-9]+" } }"#,
        );
        let headers = [("x-env", "canary"), ("x-user", "ann"), ("x-id", "42")];
        let good = request("POST", "API.example.COM", "/v2/users", &headers);
        assert!(matches(&m, &good));
        let mut bad = vec![
            request("POST", "example.com", "/v2/users", &headers),
            request("POST", "api.example.org", "/v2/users", &headers),
            request("GET", "api.example.com", "/v2/users", &headers),
            request("POST", "api.example.com", "/v2x", &headers),
        ];
        for dropped in 0..3 {
            let mut fewer = headers.to_vec();
            fewer.remove(dropped);
            bad.push(request("POST", "api.example.com", "/v2", &fewer));
        }
        bad.push(request(
            "POST",
            "a.example.com",
            "/v2",
            &[("x-env", "canary"), ("x-user", "a"), ("x-id", "4x2")],
        ));
        for request in &bad {
            assert!(!matches(&m, request), "{request:?}");
        }
        let absent = matcher(r#"headers = { x-debug = { present = false } }"#);
        assert!(matches(&absent, &request("GET", "h", "/", &[])));
        assert!(!matches(
            &absent,
            &request("GET", "h", "/", &[("x-debug", "1")])
        ));
    }

    #[test]
    fn paths_regexes_and_grpc() {
        let exact = matcher(r#"path = "/a/b""#);
        assert!(matches(&exact, &request("GET", "h", "/a/b", &[])));
        assert!(!matches(&exact, &request("GET", "h", "/a/b/", &[])));
        for (pattern, literal) in [
            ("/users/[0-9]+", "/users/"),
            ("/users/x*", "/users/"),
            ("/ab?c", "/a"),
            ("/a|/b", ""),
            ("(?i)/a", ""),
            ("/a\\.b", "/a"),
            ("/plain", "/plain"),
        ] {
            assert_eq!(literal_prefix(pattern), literal, "{pattern}");
        }
        let regex = matcher(r#"path_regex = "/users/[0-9]+""#);
        assert!(matches(&regex, &request("GET", "h", "/users/12", &[])));
        assert!(!matches(&regex, &request("GET", "h", "/users/12/x", &[])));
        assert!(!matches(&regex, &request("GET", "h", "/x/users/12", &[])));
        let grpc = [("content-type", "application/grpc+proto")];
        assert!(grpc_family("application/grpc-web+proto") && grpc_family("application/grpc"));
        assert!(!grpc_family("application/grpcx") && !grpc_family("application/grpc-webx"));
        let escaped = Matcher::new(&MatchConfig {
            path_regex: Some("/admin)|(.*".into()),
            ..MatchConfig::default()
        });
        assert!(escaped.is_err(), "a pattern cannot unanchor itself");
        let service = matcher(r#"grpc_service = "pkg.Echo""#);
        assert!(matches(
            &service,
            &request("POST", "h", "/pkg.Echo/Say", &grpc)
        ));
        assert!(!matches(
            &service,
            &request("POST", "h", "/pkg.Echo/Say", &[])
        ));
        assert!(!matches(
            &service,
            &request("POST", "h", "/pkg.EchoX/Say", &grpc)
        ));
        let method = matcher(r#"grpc_method = "pkg.Echo/Say""#);
        assert!(matches(
            &method,
            &request("POST", "h", "/pkg.Echo/Say", &grpc)
        ));
        assert!(!matches(
            &method,
            &request("POST", "h", "/pkg.Echo/Other", &grpc)
        ));
        let bad = MatchConfig {
            path_regex: Some("(".into()),
            ..MatchConfig::default()
        };
        let err = Matcher::new(&bad).unwrap_err();
        assert!(err.starts_with("path_regex: \"(\" is not a valid"), "{err}");
    }

    #[test]
    fn covering_is_conservative() {
        let all = matcher("");
        let api = matcher(r#"host = "api.example.com""#);
        let any = matcher(r#"host = "*.example.com""#);
        let v2 = matcher(r#"path_prefix = "/v2""#);
        let v2_users = matcher(r#"path_prefix = "/v2/users""#);
        let v2x = matcher(r#"path_prefix = "/v2x""#);
        let get = matcher(
            r#"path_prefix = "/v2/users"
                              method = "GET""#,
        );
        assert!(all.covers(&api) && any.covers(&api) && !api.covers(&any));
        assert!(v2.covers(&v2_users) && !v2.covers(&v2x) && !v2_users.covers(&v2));
        assert!(v2_users.covers(&get) && !get.covers(&v2_users));
        assert!(!api.covers(&v2) && !v2.covers(&api));
        let regex = matcher(r#"path_regex = "/a.*""#);
        assert!(!regex.covers(&v2) && regex.covers(&matcher(r#"path_regex = "/a.*""#)));
    }
}
