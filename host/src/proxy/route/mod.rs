//! A listener's routes: the first whose conditions a request meets says where it goes
//! — a cluster, a weighted split over clusters, or a direct answer — and what the
//! endpoint gets instead of the client's path prefix and host.
//!
//! Matching allocates nothing and costs O(routes) at worst: routes are indexed by the
//! exact hosts they name, so a request is tried only against the routes its host
//! could match, in their order. Paths are matched with their dot segments removed, and
//! the endpoint gets that path.

mod hosts;
mod matcher;
pub mod path;
mod split;

pub use matcher::{Matcher, Seen};
pub use split::Split;

use bytes::Bytes;
use hosts::HostIndex;
use http::{HeaderName, HeaderValue, StatusCode};
use matcher::HostMatch;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use switchyard_policy::RequestView;

/// The body of the 404 a request no route matches gets (with a line end).
pub const NO_ROUTE: &str = "no route for this request";

/// One route.
#[derive(Debug)]
pub struct Rule<T> {
    /// Its name, in the access log and metrics.
    pub name: Box<str>,
    /// What a request must have.
    pub matcher: Matcher,
    /// What becomes of it.
    pub action: Action<T>,
    requests: AtomicU64,
}

impl<T> Rule<T> {
    /// A route named `name`.
    pub fn new(name: impl Into<Box<str>>, matcher: Matcher, action: Action<T>) -> Self {
        Self {
            name: name.into(),
            matcher,
            action,
            requests: AtomicU64::new(0),
        }
    }

    /// Counts a request it took.
    pub fn count(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    /// Requests it took so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }
}

/// What a route does with its requests.
#[derive(Debug)]
pub enum Action<T> {
    /// Sends them to a cluster.
    Forward(Forward<T>),
    /// Answers them itself.
    Respond(Respond),
}

/// Where a forwarding route sends its requests, and how it rewrites them.
#[derive(Debug)]
pub struct Forward<T> {
    /// The cluster or clusters.
    pub split: Split<T>,
    /// The path prefix matched and what replaces it.
    pub path_prefix: Option<(Box<str>, Box<str>)>,
    /// The host the endpoint gets instead of the client's.
    pub host: Option<Box<str>>,
}

/// A direct answer.
#[derive(Debug)]
pub struct Respond {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: Box<[(HeaderName, HeaderValue)]>,
    /// Its body.
    pub body: Bytes,
}

/// The routes of a listener, in order.
#[derive(Debug)]
pub struct RouteTable<T> {
    rules: Box<[Rule<T>]>,
    /// For each exact host named by a route: the routes a request for it may match.
    by_host: HostIndex<Candidates>,
    /// The routes a request for any other host may match.
    other_hosts: Candidates,
    normalize: bool,
    /// Whether any route has a host condition (else a request's host is not read).
    hosts: bool,
    /// Whether any route names a first path segment (else the request's is not read).
    segments: bool,
    /// A single route that takes everything (a listener's `cluster`): no condition to
    /// test.
    everything: bool,
}

/// Routes a request may match, in order, each with the key of the first path segment
/// it needs (0: any), tested before its conditions: most routes of a long table fail
/// on it, from a dense list, without a look at the route itself. A request whose
/// segment no route here names (by a bit of its key) is tried against those that need
/// none only.
#[derive(Debug, Default)]
struct Candidates {
    segments: Box<[u32]>,
    rules: Box<[u32]>,
    /// One bit per key named ([`segment_bit`]).
    named: u64,
    /// The routes that need no segment, in order.
    any: Box<[u32]>,
}

impl Candidates {
    /// From `(rule, segment key)` pairs in order.
    fn new(list: Vec<(u32, u32)>) -> Self {
        let any = list
            .iter()
            .filter(|(_, key)| *key == 0)
            .map(|(rule, _)| *rule);
        let named = list
            .iter()
            .fold(0, |bits, (_, key)| bits | segment_bit(*key));
        let any = any.collect();
        let (rules, segments): (Vec<u32>, Vec<u32>) = list.into_iter().unzip();
        Self {
            segments: segments.into(),
            rules: rules.into(),
            named,
            any,
        }
    }

    /// The routes a request with the segment `key` may match, in order.
    fn for_segment(&self, key: u32) -> impl Iterator<Item = u32> {
        let (all, any) = match self.named & segment_bit(key) {
            0 => (&[][..], &self.any[..]),
            _ => (&self.rules[..], &[][..]),
        };
        let all = all.iter().zip(&self.segments[..]);
        let all = all.filter(move |(_, k)| **k == 0 || **k == key);
        all.map(|(rule, _)| *rule).chain(any.iter().copied())
    }
}

/// The bit of a segment key in [`Candidates::named`] (none for 0, any segment); from
/// the bits above the lowest, which every key has set.
fn segment_bit(key: u32) -> u64 {
    match key {
        0 => 0,
        _ => 1 << ((key >> 1) % 64),
    }
}

/// The key of a first path segment (never 0).
fn segment_key(segment: &str) -> u32 {
    let hash = segment.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash | 1
}

/// The first segment of `path`: up to the next `/`, or its parameters (`;`).
fn first_segment(path: &str) -> &str {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let end = rest.bytes().position(|b| b == b'/' || b == b';');
    &rest[..end.unwrap_or(rest.len())]
}

/// A request's route, and the target the endpoint gets.
pub struct Routed<'t, 'r, T> {
    /// The route.
    pub rule: &'t Rule<T>,
    /// The path and query for the endpoint: dot segments removed, prefix rewritten.
    pub target: Cow<'r, str>,
}

impl<T> RouteTable<T> {
    /// `rules`, tried in order; requests' paths are normalised when `normalize` is set
    /// (on a listener with routes, not one that sends all to a cluster).
    pub fn new(rules: Vec<Rule<T>>, normalize: bool) -> Self {
        let mut by_host: HashMap<Box<[u8]>, Vec<(u32, u32)>> = HashMap::new();
        for rule in &rules {
            if let Some(HostMatch::Exact(name)) = rule.matcher.host() {
                by_host.entry(name.as_bytes().into()).or_default();
            }
        }
        let mut other_hosts = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let segment = rule.matcher.first_segment().map_or(0, segment_key);
            let i = (i as u32, segment);
            match rule.matcher.host() {
                None => {
                    other_hosts.push(i);
                    by_host.values_mut().for_each(|list| list.push(i));
                }
                Some(HostMatch::Exact(name)) => by_host
                    .get_mut(name.as_bytes())
                    .into_iter()
                    .for_each(|l| l.push(i)),
                Some(HostMatch::Suffix(suffix)) => {
                    other_hosts.push(i);
                    for (host, list) in &mut by_host {
                        if host.len() > suffix.len() && host.ends_with(suffix.as_bytes()) {
                            list.push(i);
                        }
                    }
                }
            }
        }
        let hosts = rules.iter().any(|r| r.matcher.host().is_some());
        let segments = rules.iter().any(|r| r.matcher.first_segment().is_some());
        let everything = rules.len() == 1 && rules[0].matcher.is_empty();
        Self {
            rules: rules.into(),
            by_host: HostIndex::new(by_host.into_iter().map(|(h, l)| (h, Candidates::new(l)))),
            other_hosts: Candidates::new(other_hosts),
            normalize,
            hosts,
            segments,
            everything,
        }
    }

    /// The route of `request`, or `None` when none matches; an error for a target
    /// whose path cannot be put in canonical form. Not counted: whoever serves the
    /// request counts it on its rule.
    pub fn route<'t, 'r, V: RequestView>(
        &'t self,
        request: &'r V,
    ) -> Result<Option<Routed<'t, 'r, T>>, path::Malformed> {
        let target = if self.normalize {
            path::normalize(request.path())?
        } else {
            Cow::Borrowed(request.path())
        };
        if self.everything && !self.normalize {
            let rule = &self.rules[0];
            return Ok(Some(Routed { rule, target }));
        }
        let host = match self.hosts {
            true => request.authority().map(path::bare_host),
            false => None,
        };
        let rule = {
            let seen = Seen {
                host,
                path: path::split_query(&target).0,
                view: request,
            };
            let segment = match self.segments {
                true => segment_key(first_segment(seen.path)),
                false => 0,
            };
            let mut candidates = self.candidates(host).for_segment(segment);
            let found = candidates.find(|&i| self.rules[i as usize].matcher.matches(&seen));
            let Some(i) = found else {
                return Ok(None);
            };
            &self.rules[i as usize]
        };
        let target = match &rule.action {
            Action::Forward(Forward {
                path_prefix: Some((prefix, replacement)),
                ..
            }) => Cow::Owned(path::replace_prefix(&target, prefix, replacement)),
            _ => target,
        };
        Ok(Some(Routed { rule, target }))
    }

    /// The routes a request for `host` may match, in order.
    #[inline]
    fn candidates(&self, host: Option<&str>) -> &Candidates {
        let found = host.filter(|_| !self.by_host.is_empty());
        let found = found.and_then(|host| self.by_host.get(host.as_bytes()));
        found.unwrap_or(&self.other_hosts)
    }

    /// Every route, in order.
    pub fn rules(&self) -> &[Rule<T>] {
        &self.rules
    }

    /// Every cluster a route may send to.
    pub fn targets(&self) -> impl Iterator<Item = &T> {
        self.rules
            .iter()
            .flat_map(|rule| match &rule.action {
                Action::Forward(forward) => Some(forward.split.targets().map(|(t, _)| t)),
                Action::Respond(_) => None,
            })
            .flatten()
    }

    /// Routes that can never match, each with the earlier route that takes all their
    /// requests: `(shadowed, by)`.
    pub fn shadowed(&self) -> Vec<(&Rule<T>, &Rule<T>)> {
        let mut found = Vec::new();
        for (j, later) in self.rules.iter().enumerate() {
            if let Some(earlier) = self.rules[..j]
                .iter()
                .find(|r| r.matcher.covers(&later.matcher))
            {
                found.push((later, earlier));
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::MatchConfig;
    use switchyard_policy::RequestInfo;

    fn rule(name: &str, text: &str) -> Rule<&'static str> {
        let config: MatchConfig = toml::from_str(text).unwrap();
        let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
        Rule::new(
            name,
            Matcher::new(&config).unwrap(),
            Action::Forward(Forward {
                split: Split::one(leaked),
                path_prefix: None,
                host: None,
            }),
        )
    }

    fn routed(table: &RouteTable<&'static str>, host: &str, path: &str) -> Option<String> {
        let mut request = RequestInfo::get(path);
        request.authority = Some(host.into());
        let routed = table.route(&request).unwrap()?;
        routed.rule.count();
        Some(format!("{} {}", routed.rule.name, routed.target))
    }

    #[test]
    fn the_first_match_wins_whatever_the_index() {
        let table = RouteTable::new(
            vec![
                rule("admin", r#"path_prefix = "/admin""#),
                rule("api", r#"host = "api.example.com""#),
                rule("wild", r#"host = "*.example.com""#),
                rule("api-again", r#"host = "API.example.com""#),
                rule("rest", ""),
            ],
            true,
        );
        assert_eq!(
            routed(&table, "api.example.com", "/admin/x").unwrap(),
            "admin /admin/x"
        );
        assert_eq!(
            routed(&table, "Api.Example.com:443", "/x").unwrap(),
            "api /x"
        );
        assert_eq!(routed(&table, "www.example.com", "/x").unwrap(), "wild /x");
        assert_eq!(
            routed(&table, "other.test", "/x/../admin/").unwrap(),
            "admin /admin/"
        );
        assert_eq!(routed(&table, "other.test", "/x").unwrap(), "rest /x");
        assert_eq!(
            routed(&table, "other.test", "/admin;v=1/x").unwrap(),
            "admin /admin;v=1/x"
        );
        assert_eq!(
            routed(&table, "other.test", "/adminx").unwrap(),
            "rest /adminx"
        );
        assert_eq!(routed(&table, &"a".repeat(300), "/x").unwrap(), "rest /x");
        let shadowed: Vec<_> = table
            .shadowed()
            .iter()
            .map(|(later, by)| format!("{} by {}", later.name, by.name))
            .collect();
        assert_eq!(shadowed, ["api-again by api"]);
        let none = RouteTable::new(vec![rule("api", r#"host = "api.example.com""#)], true);
        assert_eq!(routed(&none, "www.example.com", "/"), None);
        assert_eq!(table.rules()[0].requests(), 3);
    }

    #[test]
    fn prefixes_are_rewritten_on_the_normalised_path() {
        let mut v2 = rule("v2", r#"path_prefix = "/v2/""#);
        if let Action::Forward(forward) = &mut v2.action {
            forward.path_prefix = Some(("/v2".into(), "/".into()));
        }
        let table = RouteTable::new(vec![v2], true);
        assert_eq!(
            routed(&table, "h", "/v2/users?x=1").unwrap(),
            "v2 /users?x=1"
        );
        assert_eq!(routed(&table, "h", "/v2").unwrap(), "v2 /");
        assert_eq!(routed(&table, "h", "/v3/../v2/./a").unwrap(), "v2 /a");
        assert_eq!(routed(&table, "h", "/v2x"), None);
        // Without normalising (a listener that sends everything to one cluster), the
        // target is the client's.
        let all = RouteTable::new(vec![rule("all", "")], false);
        assert_eq!(routed(&all, "h", "/a/../b").unwrap(), "all /a/../b");
    }
}
