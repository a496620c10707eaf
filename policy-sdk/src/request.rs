//! What a policy's `pick` receives: the request's attributes it asked for, the time,
//! and the candidates the host delivered, as plain fields.
//!
//! On the wire (`wit/policy.wit`) the request is kept to 16 flat values so that a pick
//! allocates nothing: attributes come as one list, candidates as a variant, and a
//! candidate as its index only. [`Request::from_wire`] turns that into this form once
//! per pick, with the ids of the membership the policy was given.

use crate::bindings::exports::switchyard::policy::balancing as wire;
use crate::{EndpointId, Figures, Method, Reading};

/// An endpoint whose figures came with a pick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// The endpoint.
    pub id: EndpointId,
    /// Its position in the list last given to `set_members`.
    pub index: u32,
    /// Its load figures at the time of the pick.
    pub figures: Figures,
}

/// The attributes of one request, as far as the policy's [`Needs`](crate::Needs)
/// asked for them, and what the host delivered with the pick.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The method (`Needs::method`).
    pub method: Option<Method>,
    /// `:authority` or `Host` (`Needs::authority`).
    pub authority: Option<String>,
    /// Path and query (`Needs::path`).
    pub path: Option<String>,
    /// The client's address as `ip:port` (`Needs::client_addr`).
    pub client_addr: Option<String>,
    /// The headers asked for that the request carries, names in lower case; none when
    /// `Needs::headers` is empty.
    pub headers: Option<Vec<(String, String)>>,
    /// 64-bit hash of the `hash_on` source ([`hash_key`](crate::hash_key) of its
    /// bytes); none when the request has no such attribute.
    pub hash_key: Option<u64>,
    /// The time of the pick, on the host's `now_ns` clock.
    pub now_ns: u64,
    /// With `Candidates::TwoRandom`, the two endpoints the host drew.
    pub pair: Option<(Candidate, Candidate)>,
    /// With `Candidates::Watched`, the endpoints the previous answer watched.
    pub watched: Option<Vec<Candidate>>,
    /// With declared metrics and delivered candidates: each candidate's readings of
    /// `Needs::metrics`, candidate by candidate.
    pub readings: Option<Readings>,
}

/// The readings delivered with a pick: for each candidate in turn, one per metric of
/// `Needs::metrics`, each reported or not. Kept as the host sent them (a value and an
/// age per reading, NaN where not reported), read one at a time with [`get`].
///
/// ```
/// use switchyard_policy_sdk::{Reading, Readings};
///
/// let fresh = Reading { value: 3.0, age_ms: 12 };
/// let readings: Readings = [Some(fresh), None].into_iter().collect();
/// assert_eq!(readings.len(), 2);
/// assert_eq!(readings.get(0), Some(fresh));
/// assert_eq!(readings.get(1), None, "not reported");
/// assert_eq!(readings.get(2), None, "past the end");
/// ```
///
/// [`get`]: Readings::get
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Readings(Vec<f64>);

impl Readings {
    /// Reading `k` (candidate `k / metrics`, metric `k % metrics`), if reported.
    pub fn get(&self, k: usize) -> Option<Reading> {
        let value = *self.0.get(2 * k)?;
        let age = *self.0.get(2 * k + 1)?;
        (!value.is_nan()).then_some(Reading {
            value,
            age_ms: age as u32,
        })
    }

    /// How many readings there are, reported or not.
    pub fn len(&self) -> usize {
        self.0.len() / 2
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.len() < 2
    }

    /// Every reading in order.
    ///
    /// ```
    /// use switchyard_policy_sdk::{Reading, Readings};
    ///
    /// let r = Reading { value: 1.0, age_ms: 0 };
    /// let readings: Readings = [None, Some(r)].into_iter().collect();
    /// assert_eq!(readings.iter().collect::<Vec<_>>(), [None, Some(r)]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = Option<Reading>> + '_ {
        (0..self.len()).map(|k| self.get(k))
    }

    /// Appends one reading to `wire` in the form the host sends: the value and the age
    /// in ms, or NaN and 0 when not reported. The host writes its lists with this, so
    /// that both sides of the boundary share one encoding.
    ///
    /// ```
    /// use switchyard_policy_sdk::Readings;
    ///
    /// let mut wire = Vec::new();
    /// Readings::encode(&mut wire, Some((2.5, 7)));
    /// Readings::encode(&mut wire, None);
    /// assert_eq!(&wire[..2], &[2.5, 7.0]);
    /// assert!(wire[2].is_nan());
    /// ```
    pub fn encode(wire: &mut Vec<f64>, reading: Option<(f64, u32)>) {
        let (value, age_ms) = reading.unwrap_or((f64::NAN, 0));
        wire.push(value);
        wire.push(f64::from(age_ms));
    }
}

impl FromIterator<Option<Reading>> for Readings {
    fn from_iter<I: IntoIterator<Item = Option<Reading>>>(readings: I) -> Self {
        let mut wire = Vec::new();
        for reading in readings {
            Self::encode(&mut wire, reading.map(|r| (r.value, r.age_ms)));
        }
        Self(wire)
    }
}

impl Request {
    /// A request with no attributes, as a policy that needs nothing receives it.
    ///
    /// ```
    /// use switchyard_policy_sdk::Request;
    ///
    /// let request = Request { path: Some("/a".into()), ..Request::empty() };
    /// assert_eq!(request.hash_key, None);
    /// ```
    pub fn empty() -> Self {
        Request {
            method: None,
            authority: None,
            path: None,
            client_addr: None,
            headers: None,
            hash_key: None,
            now_ns: 0,
            pair: None,
            watched: None,
            readings: None,
        }
    }

    /// The value of header `name` (lower case), if the request carries it and the
    /// policy asked for it in [`Needs::headers`](crate::Needs::headers).
    ///
    /// ```
    /// use switchyard_policy_sdk::Request;
    ///
    /// let request = Request {
    ///     headers: Some(vec![("x-user".into(), "ann".into())]),
    ///     ..Request::empty()
    /// };
    /// assert_eq!(request.header("x-user"), Some("ann"));
    /// assert_eq!(request.header("x-other"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .flatten()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request as the host sent it, for a policy whose needs asked for headers
    /// (`headers_asked`), whose membership has `ids` by index. A candidate index beyond
    /// `ids` is a host bug and panics (the pick traps).
    pub(crate) fn from_wire(sent: wire::Request, ids: &[EndpointId], headers_asked: bool) -> Self {
        let mut request = Request {
            now_ns: sent.now_ns,
            headers: headers_asked.then(Vec::new),
            ..Request::empty()
        };
        match sent.asked {
            wire::Asked::Nothing => {}
            wire::Asked::HashKey(key) => request.hash_key = Some(key),
            wire::Asked::Attributes(attributes) => {
                for attribute in attributes {
                    match attribute {
                        wire::Attribute::HashKey(key) => request.hash_key = Some(key),
                        wire::Attribute::Method(m) => request.method = Some(m),
                        wire::Attribute::Authority(a) => request.authority = Some(a),
                        wire::Attribute::Path(p) => request.path = Some(p),
                        wire::Attribute::ClientAddr(a) => request.client_addr = Some(a),
                        wire::Attribute::Header(h) => {
                            request.headers.get_or_insert_default().push(h)
                        }
                    }
                }
            }
        }
        let candidate = |c: wire::Candidate| Candidate {
            id: ids[c.index as usize],
            index: c.index,
            figures: c.figures,
        };
        match sent.delivered {
            wire::Delivered::None => {}
            wire::Delivered::Pair((a, b)) => request.pair = Some((candidate(a), candidate(b))),
            wire::Delivered::PairRead((a, b, readings)) => {
                request.pair = Some((candidate(a), candidate(b)));
                request.readings = Some(Readings(readings));
            }
            wire::Delivered::Watched((watched, readings)) => {
                request.watched = Some(watched.into_iter().map(candidate).collect());
                request.readings = (!readings.is_empty()).then_some(Readings(readings));
            }
        }
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(in_flight: u32) -> Figures {
        Figures {
            in_flight,
            latency_ewma_us: 0,
            error_rate: 0.0,
        }
    }

    fn sent(asked: wire::Asked, delivered: wire::Delivered) -> wire::Request {
        wire::Request {
            now_ns: 9,
            asked,
            delivered,
        }
    }

    #[test]
    fn attributes_land_in_their_fields_and_headers_keep_their_order() {
        let request = Request::from_wire(
            sent(
                wire::Asked::Attributes(vec![
                    wire::Attribute::HashKey(3),
                    wire::Attribute::Method(Method::Post),
                    wire::Attribute::Path("/a".into()),
                    wire::Attribute::Header(("x-b".into(), "2".into())),
                    wire::Attribute::Header(("x-a".into(), "1".into())),
                ]),
                wire::Delivered::None,
            ),
            &[],
            true,
        );
        assert_eq!(request.method, Some(Method::Post));
        assert_eq!(request.path.as_deref(), Some("/a"));
        assert_eq!(request.authority, None);
        assert_eq!((request.now_ns, request.hash_key), (9, Some(3)));
        assert_eq!(
            request.headers,
            Some(vec![("x-b".into(), "2".into()), ("x-a".into(), "1".into())])
        );
    }

    #[test]
    fn a_lone_hash_key_and_absent_headers() {
        let keyed = Request::from_wire(
            sent(wire::Asked::HashKey(7), wire::Delivered::None),
            &[],
            false,
        );
        assert_eq!((keyed.hash_key, keyed.headers), (Some(7), None));
        let asked =
            Request::from_wire(sent(wire::Asked::Nothing, wire::Delivered::None), &[], true);
        assert_eq!(
            asked.headers,
            Some(Vec::new()),
            "asked, but the request has none"
        );
        assert_eq!(asked.hash_key, None);
    }

    #[test]
    fn candidates_get_their_ids_from_the_membership_and_readings_decode() {
        let at = |index, in_flight| wire::Candidate {
            index,
            figures: figures(in_flight),
        };
        let ids = [10, 11, 12];
        let pair = Request::from_wire(
            sent(
                wire::Asked::Nothing,
                wire::Delivered::Pair((at(2, 5), at(0, 1))),
            ),
            &ids,
            false,
        );
        let (a, b) = pair.pair.unwrap();
        assert_eq!((a.id, a.index, a.figures.in_flight), (12, 2, 5));
        assert_eq!((b.id, b.index), (10, 0));
        assert_eq!(pair.readings, None);

        let read_pair = Request::from_wire(
            sent(
                wire::Asked::Nothing,
                wire::Delivered::PairRead((at(1, 0), at(2, 0), vec![1.5, 3.0, f64::NAN, 0.0])),
            ),
            &ids,
            false,
        );
        assert_eq!(read_pair.pair.map(|(a, b)| (a.id, b.id)), Some((11, 12)));
        let readings = read_pair.readings.unwrap();
        assert_eq!(
            readings.iter().collect::<Vec<_>>(),
            [
                Some(Reading {
                    value: 1.5,
                    age_ms: 3
                }),
                None
            ]
        );

        let watched = Request::from_wire(
            sent(
                wire::Asked::Nothing,
                wire::Delivered::Watched((vec![at(0, 0), at(1, 0), at(2, 0)], Vec::new())),
            ),
            &ids,
            false,
        );
        let ids_seen: Vec<_> = watched.watched.unwrap().iter().map(|c| c.id).collect();
        assert_eq!(ids_seen, [10, 11, 12]);
        assert_eq!(watched.pair, None);
        assert_eq!(watched.readings, None, "no metric declared");
    }
}
