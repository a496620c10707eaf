//! Consistent hashing as a ready balancer: a policy supplies only its lookup structure
//! ([`KeyMap`]); [`Hashed`] reads `hash_on`, asks the host for the key, rebuilds the
//! map on every membership change and answers a key's endpoint with the next distinct
//! ones as fallbacks.

use crate::{
    Balancer, Choices, Config, Endpoint, Env, Members, Needs, PolicyInfo, Request, Setup,
    parse_hash_source,
};

/// How far a walk goes looking for distinct fallbacks.
const FALLBACK_SCAN: usize = 256;

/// A consistent-hashing lookup structure over the routable members.
pub trait KeyMap: Sized + 'static {
    /// Name, description and the keys the map reads (`hash_on` is added).
    fn describe() -> PolicyInfo;

    /// The configuration keys the map reads, besides `hash_on`.
    const KEYS: &'static [&'static str];

    /// An empty map configured from `config`.
    fn new(config: &Config) -> Result<Self, String>;

    /// Rebuilds the map for `members` (the routable ones, by position).
    fn rebuild(&mut self, members: &Members);

    /// The positions (in `members`) met walking from `key`: the key's endpoint first,
    /// then onwards; repeats allowed, at least one unless the map is empty.
    fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_;
}

/// A balancer hashing requests with `M`.
pub struct Hashed<M> {
    needs: Needs,
    members: Members,
    map: M,
}

impl<M: KeyMap> Balancer for Hashed<M> {
    fn describe() -> PolicyInfo {
        let mut info = M::describe();
        info.config_keys.insert(
            0,
            crate::ConfigKey {
                name: "hash_on".into(),
                description: "header:NAME, cookie:NAME, path, authority or client-ip".into(),
                default_value: Some("client-ip".into()),
            },
        );
        info
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        let config = setup.config();
        let mut known = vec!["hash_on"];
        known.extend(M::KEYS);
        config.reject_unknown(&known)?;
        let source = parse_hash_source(config.get("hash_on").unwrap_or("client-ip"))?;
        Ok(Self {
            needs: Needs {
                hash_on: Some(source),
                ..Needs::nothing()
            },
            members: Members::default(),
            map: M::new(&config)?,
        })
    }

    fn needs(&self) -> Needs {
        self.needs.clone()
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = Members::new(members);
        self.map.rebuild(&self.members);
    }

    /// The key's endpoint and the next distinct ones; a request without the key gets
    /// a random key.
    fn pick(&mut self, request: &Request, env: &impl Env) -> Choices {
        if self.members.is_empty() {
            return Choices::none();
        }
        let key = request.hash_key.unwrap_or_else(|| env.random());
        let members = &self.members;
        let walk = self
            .map
            .walk(key)
            .take(FALLBACK_SCAN)
            .map(|position| members.get(position).id);
        Choices::distinct(walk, Choices::MAX.min(members.len()))
    }
}
