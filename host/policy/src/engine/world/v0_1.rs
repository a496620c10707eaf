//! Contract 0.1.0 (`wit/0.1.0/`), still served: its bindings, its imports answered by
//! the current ones, and its records converted to and from the current ones. Its
//! `types` interface did not change, so its types are the current ones.

use super::switchyard::policy as current;
use crate::engine::store::StoreState;

wasmtime::component::bindgen!({
    path: "../../wit/0.1.0",
    world: "switchyard:policy/balancer",
    with: {
        "switchyard:policy/types@0.1.0": super::switchyard::policy::types,
    },
});

pub(crate) use self::exports::switchyard::policy::balancing as wit;
use self::switchyard::policy::{host, load};

impl host::Host for StoreState {
    fn now_ns(&mut self) -> u64 {
        current::host::Host::now_ns(self)
    }

    fn random(&mut self) -> u64 {
        current::host::Host::random(self)
    }

    fn log(&mut self, level: current::types::LogLevel, message: String) {
        current::host::Host::log(self, level, message)
    }
}

impl load::Host for StoreState {
    fn get(&mut self, id: u32) -> load::Figures {
        current::load::Host::get(self, id).into()
    }

    fn pair(&mut self, a: u32, b: u32) -> (load::Figures, load::Figures) {
        let (a, b) = current::load::Host::pair(self, a, b);
        (a.into(), b.into())
    }

    fn in_flight(&mut self, id: u32) -> u32 {
        current::load::Host::in_flight(self, id)
    }
}

impl From<current::load::Figures> for load::Figures {
    fn from(f: current::load::Figures) -> Self {
        Self {
            in_flight: f.in_flight,
            latency_ewma_us: f.latency_ewma_us,
            error_rate: f.error_rate,
        }
    }
}

impl From<wit::Needs> for super::Needs {
    /// What a 0.1.0 policy needs: no reported metric, no candidates.
    fn from(needs: wit::Needs) -> Self {
        Self {
            method: needs.method,
            authority: needs.authority,
            path: needs.path,
            client_addr: needs.client_addr,
            headers: needs.headers,
            hash_on: needs.hash_on.map(|source| match source {
                wit::HashSource::Header(name) => super::HashSource::Header(name),
                wit::HashSource::Cookie(name) => super::HashSource::Cookie(name),
                wit::HashSource::Path => super::HashSource::Path,
                wit::HashSource::Authority => super::HashSource::Authority,
                wit::HashSource::ClientIp => super::HashSource::ClientIp,
            }),
            metrics: Vec::new(),
            candidates: super::Candidates::None,
        }
    }
}

/// The 0.1.0 request: the current one's attributes as fields, without time and
/// candidates (the attributes are moved out of `r`). `headers_asked`: whether the
/// policy's needs named headers (0.1.0 then sends a list, even an empty one).
pub(crate) fn request(r: &mut super::Request, headers_asked: bool) -> wit::Request {
    use super::{Asked, Attribute, Method as M};
    let (hash_key, attributes) = match std::mem::replace(&mut r.asked, Asked::Nothing) {
        Asked::Nothing => (None, Vec::new()),
        Asked::HashKey(key) => (Some(key), Vec::new()),
        Asked::Attributes(attributes) => (None, attributes),
    };
    let mut request = wit::Request {
        method: None,
        authority: None,
        path: None,
        client_addr: None,
        headers: headers_asked.then(Vec::new),
        hash_key,
    };
    for attribute in attributes {
        match attribute {
            Attribute::HashKey(key) => request.hash_key = Some(key),
            Attribute::Method(m) => {
                request.method = Some(match m {
                    M::Get => wit::Method::Get,
                    M::Head => wit::Method::Head,
                    M::Post => wit::Method::Post,
                    M::Put => wit::Method::Put,
                    M::Delete => wit::Method::Delete,
                    M::Connect => wit::Method::Connect,
                    M::Options => wit::Method::Options,
                    M::Trace => wit::Method::Trace,
                    M::Patch => wit::Method::Patch,
                    M::Other => wit::Method::Other,
                })
            }
            Attribute::Authority(a) => request.authority = Some(a),
            Attribute::Path(p) => request.path = Some(p),
            Attribute::ClientAddr(a) => request.client_addr = Some(a),
            Attribute::Header(h) => request.headers.get_or_insert_default().push(h),
        }
    }
    request
}

/// The 0.1.0 answer as the current one (it watches nothing).
pub(crate) fn preference(p: wit::Preference) -> super::Preference {
    super::Preference {
        len: p.len,
        ids: p.ids,
        watch_len: 0,
        watch: (0, 0, 0, 0, 0, 0, 0, 0),
    }
}

/// Host bindings of the 0.1.0 `health-scorer` world; its imports are the 0.1.0
/// balancer world's.
pub(crate) mod scorer {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
        world: "switchyard:policy/health-scorer",
        with: {
            "switchyard:policy/types@0.1.0": super::super::switchyard::policy::types,
            "switchyard:policy/host@0.1.0": super::switchyard::policy::host,
            "switchyard:policy/load@0.1.0": super::switchyard::policy::load,
        },
    });

    use self::exports::switchyard::policy::scoring as wit;
    use super::super::scorer as current;

    /// The current observation as 0.1.0 has it (the same fields).
    pub(crate) fn observation(o: &current::Observation) -> wit::Observation {
        wit::Observation {
            endpoint: o.endpoint,
            source: match o.source {
                current::Source::Probe => wit::Source::Probe,
                current::Source::Request => wit::Source::Request,
            },
            success: o.success,
            status: o.status,
            latency_us: o.latency_us,
            connect_error: o.connect_error,
            timed_out: o.timed_out,
            at_ns: o.at_ns,
        }
    }

    /// A 0.1.0 verdict as the current one.
    pub(crate) fn verdict(v: wit::Verdict) -> current::Verdict {
        match v {
            wit::Verdict::Healthy => current::Verdict::Healthy,
            wit::Verdict::Degraded(f) => current::Verdict::Degraded(f),
            wit::Verdict::Ejected(ms) => current::Verdict::Ejected(ms),
        }
    }
}
