//! Consistent hashing as a ready balancer: a policy supplies only its lookup structure
//! ([`KeyMap`]); [`Hashed`] reads `hash_on`, asks the host for the key, rebuilds the
//! map on every membership change and answers a key's endpoint with the next distinct
//! ones as fallbacks.
//!
//! ```
//! use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
//! use switchyard_policy_sdk::testing::{Harness, endpoints};
//! use switchyard_policy_sdk::{Config, Members, PolicyInfo, jump_hash};
//!
//! /// Jump consistent hashing: no table at all.
//! pub struct Jump {
//!     buckets: u32,
//! }
//!
//! impl KeyMap for Jump {
//!     fn describe() -> PolicyInfo {
//!         PolicyInfo::new("jump", "jump consistent hash over the routable endpoints")
//!     }
//!     const KEYS: &'static [&'static str] = &[];
//!     fn new(_config: &Config) -> Result<Self, String> {
//!         Ok(Jump { buckets: 0 })
//!     }
//!     fn rebuild(&mut self, members: &Members) {
//!         self.buckets = members.len() as u32;
//!     }
//!     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
//!         let n = self.buckets.max(1) as usize;
//!         let first = jump_hash(key, self.buckets) as usize;
//!         (0..n).map(move |k| (first + k) % n)
//!     }
//! }
//!
//! /// The policy: `Hashed` adds `hash_on`, the key, the fallbacks.
//! pub type JumpHash = Hashed<Jump>;
//!
//! let mut h = Harness::<JumpHash>::new(&[("hash_on", "header:x-user")], endpoints(&[1; 5]))
//!     .unwrap();
//! let ann = h.pick_with_header("x-user", "ann");
//! assert_eq!(ann.len(), 4, "the key's endpoint and three fallbacks");
//! assert_eq!(h.pick_with_header("x-user", "ann"), ann);
//! ```

use crate::{
    Balancer, Choices, Config, Endpoint, Env, Members, Needs, PolicyInfo, Request, Setup,
    parse_hash_source,
};

/// How far a walk goes looking for distinct fallbacks.
const FALLBACK_SCAN: usize = 256;

/// A consistent-hashing lookup structure over the routable members.
///
/// ```
/// # mod policy {
/// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
/// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
/// # #[derive(Debug)]
/// # pub struct Modulo(usize);
/// # impl KeyMap for Modulo {
/// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
/// #     const KEYS: &'static [&'static str] = &[];
/// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
/// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
/// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
/// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
/// #     }
/// # }
/// # }
/// # use policy::Modulo;
/// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
/// use switchyard_policy_sdk::testing::{Harness, endpoints};
///
/// // `Modulo` (hidden above) maps key k to position k mod n.
/// let mut h = Harness::<Hashed<Modulo>>::new(&[], endpoints(&[1, 1, 1])).unwrap();
/// assert_eq!(h.pick_key(7), [1, 2, 0]);
/// ```
pub trait KeyMap: Sized + 'static {
    /// Name, description and the keys the map reads (`hash_on` is added).
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::Balancer;
    ///
    /// // `Hashed` lists `hash_on` first, then the map's own keys.
    /// let info = <Hashed<Modulo> as Balancer>::describe();
    /// assert_eq!(info.name, "modulo");
    /// assert_eq!(info.config_keys[0].name, "hash_on");
    /// ```
    fn describe() -> PolicyInfo;

    /// The configuration keys the map reads, besides `hash_on`.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// // Keys outside `KEYS` (and `hash_on`) are refused at load.
    /// let refused = Harness::<Hashed<Modulo>>::new(&[("table_size", "7")], endpoints(&[1]));
    /// assert!(refused.unwrap_err().contains("unknown key"));
    /// ```
    const KEYS: &'static [&'static str];

    /// An empty map configured from `config`.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::Config;
    ///
    /// assert!(Modulo::new(&Config::default()).is_ok());
    /// ```
    fn new(config: &Config) -> Result<Self, String>;

    /// Rebuilds the map for `members` (the routable ones, by position).
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::testing::endpoints;
    /// use switchyard_policy_sdk::{Config, Members};
    ///
    /// let mut map = Modulo::new(&Config::default()).unwrap();
    /// map.rebuild(&Members::new(endpoints(&[1, 1])));
    /// assert_eq!(map.walk(3).next(), Some(1));
    /// ```
    fn rebuild(&mut self, members: &Members);

    /// The positions (in `members`) met walking from `key`: the key's endpoint first,
    /// then onwards; repeats allowed, at least one unless the map is empty.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::testing::endpoints;
    /// use switchyard_policy_sdk::{Config, Members};
    ///
    /// let mut map = Modulo::new(&Config::default()).unwrap();
    /// map.rebuild(&Members::new(endpoints(&[1, 1, 1])));
    /// assert_eq!(map.walk(4).collect::<Vec<_>>(), [1, 2, 0]);
    /// ```
    fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_;
}

/// A balancer hashing requests with `M`.
///
/// It reads `hash_on` (`client-ip` when absent) from the configuration and asks the
/// host for that key with every pick; a request without the key gets a random one.
///
/// ```
/// # mod policy {
/// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
/// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
/// # #[derive(Debug)]
/// # pub struct Modulo(usize);
/// # impl KeyMap for Modulo {
/// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
/// #     const KEYS: &'static [&'static str] = &[];
/// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
/// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
/// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
/// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
/// #     }
/// # }
/// # }
/// # use policy::Modulo;
/// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
/// use switchyard_policy_sdk::hash_key;
/// use switchyard_policy_sdk::testing::{Harness, endpoints};
///
/// let mut h = Harness::<Hashed<Modulo>>::new(&[("hash_on", "path")], endpoints(&[1, 1, 1]))
///     .unwrap();
/// let owner = (hash_key(b"/users/42") % 3) as u32;
/// assert_eq!(h.pick_with_path("/users/42?tab=1")[0], owner);
/// ```
#[derive(Clone, Debug)]
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
