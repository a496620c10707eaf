//! Each listener's routes built from its configuration: conditions compiled, clusters
//! resolved (with a route's own timeouts and retries applied to them), direct answers
//! made ready.

use super::settings;
use crate::config::model::{
    ClusterConfig, ListenerConfig, MatchConfig, RespondConfig, RouteConfig,
};
use crate::proxy::route::{Action, Forward, Matcher, Respond, RouteTable, Rule, Split};
use crate::proxy::{Routes, Upstream};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use std::collections::HashMap;
use std::sync::Arc;
use switchyard_policy::parse_hash_source;

/// The name of the one route of a listener that sends every request to its `cluster`.
pub const DEFAULT_ROUTE: &str = "default";

/// The clusters a route may name: configuration and upstream, by name.
pub(super) type ByName<'a> = HashMap<&'a str, (&'a ClusterConfig, &'a Arc<Upstream>)>;

/// The routes of `listener` (number `i` of the configuration); errors name the key
/// path.
pub(super) fn build(
    i: usize,
    listener: &ListenerConfig,
    clusters: &ByName<'_>,
) -> anyhow::Result<Routes> {
    if let Some(name) = &listener.cluster {
        let (_, upstream) = clusters[name.as_str()];
        let everything = Matcher::new(&MatchConfig::default()).map_err(anyhow::Error::msg)?;
        let forward = Action::Forward(Forward {
            split: Split::one(Arc::clone(upstream)),
            path_prefix: None,
            host: None,
        });
        return Ok(RouteTable::new(
            vec![Rule::new(DEFAULT_ROUTE, everything, forward)],
            false,
        ));
    }
    let rules = listener
        .routes
        .iter()
        .enumerate()
        .map(|(j, route)| {
            rule(j, route, clusters).map_err(|m| anyhow::anyhow!("listeners[{i}].routes[{j}].{m}"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(RouteTable::new(rules, true))
}

/// Route number `j`; the error is `key: reason` within it.
fn rule(
    j: usize,
    route: &RouteConfig,
    clusters: &ByName<'_>,
) -> Result<Rule<Arc<Upstream>>, String> {
    let name = route.name.clone().unwrap_or_else(|| j.to_string());
    let matcher = Matcher::new(&route.matches).map_err(|m| format!("match.{m}"))?;
    if let Some(respond) = &route.respond {
        return Ok(Rule::new(name, matcher, Action::Respond(answer(respond)?)));
    }
    let target = |cluster: &str| -> Arc<Upstream> {
        let (cluster, upstream) = clusters[cluster];
        match overridden(cluster, route) {
            Some(merged) => Arc::new(upstream.overridden(
                settings::upstream_settings(&merged),
                settings::retries(&merged),
            )),
            None => Arc::clone(upstream),
        }
    };
    let split = match &route.cluster {
        Some(cluster) => Split::one(target(cluster)),
        None => {
            let sticky = route
                .sticky
                .as_deref()
                .map(parse_hash_source)
                .transpose()
                .map_err(|m| format!("sticky: {}", m.trim_start_matches("hash_on: ")))?;
            let sides = route
                .clusters
                .iter()
                .map(|side| (target(&side.name), side.weight));
            Split::weighted(sides.collect(), sticky)
        }
    };
    // The prefix as the matcher holds it (canonical, as the requests it cuts are).
    let path_prefix = match (&route.rewrite.path_prefix, matcher.path_prefix()) {
        (Some(replacement), Some(prefix)) => Some((prefix.into(), replacement.as_str().into())),
        _ => None,
    };
    let forward = Forward {
        split,
        path_prefix,
        host: route.rewrite.host.as_deref().map(Into::into),
    };
    Ok(Rule::new(name, matcher, Action::Forward(forward)))
}

/// `cluster` with the timeouts and retries `route` overrides; `None` when it overrides
/// none.
fn overridden(cluster: &ClusterConfig, route: &RouteConfig) -> Option<ClusterConfig> {
    let (timeouts, retries) = (&route.timeouts, &route.retries);
    let any = timeouts.request.is_some()
        || timeouts.per_try.is_some()
        || timeouts.body_idle.is_some()
        || retries.attempts.is_some()
        || retries.on_status.is_some()
        || retries.on_grpc_status.is_some()
        || retries.idempotent_header.is_some();
    if !any {
        return None;
    }
    let mut merged = cluster.clone();
    let t = &mut merged.timeouts;
    t.request = timeouts.request.unwrap_or(t.request);
    t.per_try = timeouts.per_try.unwrap_or(t.per_try);
    t.body_idle = timeouts.body_idle.unwrap_or(t.body_idle);
    let r = &mut merged.retries;
    r.attempts = retries.attempts.unwrap_or(r.attempts);
    if let Some(on_status) = &retries.on_status {
        r.on_status.clone_from(on_status);
    }
    if let Some(on_grpc_status) = &retries.on_grpc_status {
        r.on_grpc_status.clone_from(on_grpc_status);
    }
    if let Some(header) = &retries.idempotent_header {
        r.idempotent_header = Some(header.clone());
    }
    Some(merged)
}

/// A direct answer as configured; the error is `key: reason`.
fn answer(respond: &RespondConfig) -> Result<Respond, String> {
    let status = StatusCode::from_u16(respond.status)
        .map_err(|_| format!("respond.status: {} is not a status", respond.status))?;
    let headers = respond
        .headers
        .iter()
        .map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("respond.headers: {name:?} is not a header name"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("respond.headers.{name}: {value:?} is not a header value"))?;
            Ok((name, value))
        })
        .collect::<Result<_, String>>()?;
    Ok(Respond {
        status,
        headers,
        body: Bytes::from(respond.body.clone()),
    })
}
