//! The request attributes a pick sees, taken from whatever the proxy has.

use crate::engine::world::{Asked, Attribute, Delivered, HashSource, Method, Needs, Request};
use std::net::{IpAddr, SocketAddr};
use switchyard_policy_sdk::hash::{KeySource, KeyedRequest};

/// Read access to a request, implemented by the proxy for its own request type (and by
/// [`RequestInfo`]), so that the policy engine does not depend on the HTTP stack.
pub trait RequestView {
    /// The method, such as `GET`.
    fn method(&self) -> &str;
    /// `:authority` or `Host`.
    fn authority(&self) -> Option<&str>;
    /// Path and query.
    fn path(&self) -> &str;
    /// The client's address.
    fn client_addr(&self) -> Option<SocketAddr>;
    /// A header's value by lower-case name (the first, when repeated); `None` too when
    /// it is not text.
    fn header(&self, name: &str) -> Option<&str>;
    /// Whether the request has a header of that lower-case name, text or not.
    fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
}

/// A request's attributes held by value: for tests, the checker and the simulator.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    /// Method.
    pub method: String,
    /// Authority.
    pub authority: Option<String>,
    /// Path and query.
    pub path: String,
    /// Client address.
    pub client_addr: Option<SocketAddr>,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl RequestInfo {
    /// `GET /` from 127.0.0.1 with no headers.
    pub fn get(path: &str) -> Self {
        Self {
            method: "GET".into(),
            authority: Some("switchyard.test".into()),
            path: path.into(),
            client_addr: Some(SocketAddr::from(([127, 0, 0, 1], 40_000))),
            headers: Vec::new(),
        }
    }
}

impl RequestInfo {
    /// A copy of what a policy with `needs` reads of `view` (only that): for a pick
    /// made later, elsewhere (a shadow pick). Its size in bytes, roughly.
    pub(crate) fn capture(view: &impl RequestView, needs: &Needs) -> (Self, usize) {
        let hash = needs.hash_on.as_ref();
        let keyed = match hash {
            Some(HashSource::Header(name)) => Some(name.as_str()),
            Some(HashSource::Cookie(_)) => Some("cookie"),
            _ => None,
        };
        let headers: Vec<(String, String)> = needs
            .headers
            .iter()
            .map(String::as_str)
            .chain(keyed)
            .filter_map(|name| Some((name.to_string(), view.header(name)?.to_string())))
            .collect();
        let path = needs.path || matches!(hash, Some(HashSource::Path));
        let authority = needs.authority || matches!(hash, Some(HashSource::Authority));
        let client = needs.client_addr || matches!(hash, Some(HashSource::ClientIp));
        let info = Self {
            method: if needs.method { view.method() } else { "" }.to_string(),
            authority: view.authority().filter(|_| authority).map(str::to_string),
            path: if path { view.path() } else { "" }.to_string(),
            client_addr: view.client_addr().filter(|_| client),
            headers,
        };
        let size = info.method.len()
            + info.path.len()
            + info.authority.as_ref().map_or(0, String::len)
            + info
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        (info, size)
    }
}

impl RequestView for RequestInfo {
    fn method(&self) -> &str {
        &self.method
    }
    fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn client_addr(&self) -> Option<SocketAddr> {
        self.client_addr
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The WIT request for `view`, with only what `needs` asks for (no candidates: the
/// instance adds them).
pub(crate) fn to_wit(needs: &Needs, view: &impl RequestView) -> Request {
    let hash_key = needs
        .hash_on
        .as_ref()
        .and_then(|source| hash_of(source, view));
    let asked = match hash_key {
        _ if asks_attributes(needs) => Asked::Attributes(attributes(hash_key, needs, view)),
        Some(key) => Asked::HashKey(key),
        None => Asked::Nothing,
    };
    Request {
        now_ns: crate::engine::clock::now_ns(),
        asked,
        delivered: Delivered::None,
    }
}

/// Whether `needs` asks for any attribute.
fn asks_attributes(needs: &Needs) -> bool {
    needs.method || needs.authority || needs.path || needs.client_addr || !needs.headers.is_empty()
}

/// The attributes `needs` asks for that `view` has, `hash_key` first, in the
/// contract's order.
fn attributes(hash_key: Option<u64>, needs: &Needs, view: &impl RequestView) -> Vec<Attribute> {
    let mut attributes: Vec<Attribute> = hash_key.map(Attribute::HashKey).into_iter().collect();
    if needs.method {
        attributes.push(Attribute::Method(method(view.method())));
    }
    if let Some(authority) = view.authority().filter(|_| needs.authority) {
        attributes.push(Attribute::Authority(authority.to_string()));
    }
    if needs.path {
        attributes.push(Attribute::Path(view.path().to_string()));
    }
    if let Some(addr) = view.client_addr().filter(|_| needs.client_addr) {
        attributes.push(Attribute::ClientAddr(addr.to_string()));
    }
    for name in &needs.headers {
        if let Some(value) = view.header(name) {
            attributes.push(Attribute::Header((name.clone(), value.to_string())));
        }
    }
    attributes
}

fn method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ => Method::Other,
    }
}

/// Reads a hash source as configuration writes it (`header:NAME`, `cookie:NAME`,
/// `path`, `authority` or `client-ip`), as the SDK does for policies.
pub fn parse_hash_source(text: &str) -> Result<HashSource, String> {
    use switchyard_policy_sdk::HashSource as Written;
    Ok(match switchyard_policy_sdk::parse_hash_source(text)? {
        Written::Header(name) => HashSource::Header(name),
        Written::Cookie(name) => HashSource::Cookie(name),
        Written::Path => HashSource::Path,
        Written::Authority => HashSource::Authority,
        Written::ClientIp => HashSource::ClientIp,
    })
}

/// The hash key of `view` from `source` (what a pick's `hash-key` holds); `None` when
/// the request lacks what it names. The SDK computes it (`hash::hash_of`), so that the
/// host and a policy's native tests cannot disagree.
pub fn hash_of(source: &HashSource, view: &impl RequestView) -> Option<u64> {
    let source = match source {
        HashSource::Header(name) => KeySource::Header(name),
        HashSource::Cookie(name) => KeySource::Cookie(name),
        HashSource::Path => KeySource::Path,
        HashSource::Authority => KeySource::Authority,
        HashSource::ClientIp => KeySource::ClientIp,
    };
    switchyard_policy_sdk::hash::hash_of(source, &Keyed(view))
}

/// A request view as the SDK's hash reads it.
struct Keyed<'a, V>(&'a V);

impl<V: RequestView> KeyedRequest for Keyed<'_, V> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.header(name)
    }
    fn path(&self) -> Option<&str> {
        Some(self.0.path())
    }
    fn authority(&self) -> Option<&str> {
        self.0.authority()
    }
    fn client_ip(&self) -> Option<IpAddr> {
        self.0.client_addr().map(|a| a.ip())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::hash_key;

    fn needs(hash_on: Option<HashSource>) -> Needs {
        Needs {
            method: true,
            authority: false,
            path: false,
            client_addr: true,
            headers: vec!["x-user".into(), "x-absent".into()],
            hash_on,
            metrics: Vec::new(),
            candidates: crate::engine::Candidates::None,
        }
    }

    /// The request stays within the canonical ABI's 16 flat parameters, so that a pick
    /// passes it in arguments and the component allocates nothing for it.
    /// (`ComponentType::ABI` is hidden from wasmtime's docs, but public.)
    #[test]
    fn the_request_is_passed_flat() {
        use wasmtime::component::ComponentType;
        let flat = <Request as ComponentType>::ABI.flat_count;
        assert!(flat.is_some_and(|n| n <= 16), "{flat:?} flat values");
    }

    #[test]
    fn fills_only_what_is_needed() {
        let mut info = RequestInfo::get("/a?b=1");
        info.headers = vec![
            ("x-user".into(), "ann".into()),
            ("cookie".into(), "a=1; session=s42; z=9".into()),
        ];
        let r = to_wit(&needs(Some(HashSource::Header("x-user".into()))), &info);
        // In the order of needs; no authority or path, no absent header.
        let Asked::Attributes(attributes) = &r.asked else {
            panic!("{:?}", r.asked)
        };
        assert!(
            matches!(
                &attributes[..],
                [
                    Attribute::HashKey(key),
                    Attribute::Method(Method::Get),
                    Attribute::ClientAddr(addr),
                    Attribute::Header((name, value)),
                ] if *key == hash_key(b"ann")
                    && addr == "127.0.0.1:40000"
                    && name == "x-user"
                    && value == "ann"
            ),
            "{attributes:?}"
        );
        // Only a hash key asked for: it comes alone, with no list to copy.
        let keyed = |source| {
            let needs = Needs {
                method: false,
                client_addr: false,
                headers: Vec::new(),
                ..needs(Some(source))
            };
            match to_wit(&needs, &info).asked {
                Asked::HashKey(key) => Some(key),
                Asked::Nothing => None,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            keyed(HashSource::Cookie("session".into())),
            Some(hash_key(b"s42"))
        );
        assert_eq!(keyed(HashSource::Path), Some(hash_key(b"/a")));
        assert_eq!(keyed(HashSource::ClientIp), Some(hash_key(b"127.0.0.1")));
        assert_eq!(keyed(HashSource::Cookie("nope".into())), None);
    }
}
