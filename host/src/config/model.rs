//! The configuration file's shape. Unknown keys are errors.

pub use super::cidr::Cidr;
use super::duration::Dur;
use serde::{Deserialize, Deserializer, de};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use switchyard_policy::RolloutRules;

/// A whole configuration file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Worker threads; every core when absent.
    pub workers: Option<usize>,
    /// This proxy's locality zone, handed to policies.
    #[serde(default)]
    pub zone: String,
    /// Log format and the access log.
    #[serde(default)]
    pub log: LogConfig,
    /// How long in-flight requests may take to finish on shutdown.
    #[serde(default = "default_drain")]
    pub drain_timeout: Dur,
    /// The admin listener.
    pub admin: Option<AdminConfig>,
    /// Where policy components come from.
    #[serde(default)]
    pub policies: PoliciesConfig,
    /// Listeners: each sends its requests to one cluster, or along its routes.
    pub listeners: Vec<ListenerConfig>,
    /// Clusters of endpoints.
    pub clusters: Vec<ClusterConfig>,
    /// Take each cluster's policy and policy configuration from etcd, so that one
    /// `etcdctl put` steers a whole fleet of proxies.
    pub etcd: Option<FleetConfig>,
    /// How this file is followed while the proxy runs.
    #[serde(default)]
    pub config: FileConfig,
}

/// `[config]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Reload the whole configuration when this file changes (as on SIGHUP).
    #[serde(default)]
    pub watch: bool,
}

/// `[etcd]`: per cluster, `PREFIX/clusters/NAME/policy` (a policy name) and
/// `PREFIX/clusters/NAME/policy_config` (a JSON object) override the file's `policy`
/// and `policy_config` while they exist.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// etcd client URLs, e.g. `http://127.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// The key prefix.
    #[serde(default = "default_fleet_prefix")]
    pub prefix: String,
}

/// `[admin]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin HTTP listener; one that is not loopback needs `token_file`.
    pub listen: Address,
    /// A file holding the token every admin request must carry as
    /// `Authorization: Bearer <token>`; relative to the configuration file.
    pub token_file: Option<PathBuf>,
    /// Let `GET /metrics` through without the token.
    #[serde(default)]
    pub metrics_public: bool,
}

/// `[policies]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoliciesConfig {
    /// Directory of `NAME.wasm` components, relative to the config file.
    pub dir: Option<PathBuf>,
    /// Load new and changed files in `dir` while running.
    #[serde(default = "default_true")]
    pub watch: bool,
    /// Where compiled components are kept across restarts, relative to the config file;
    /// `$XDG_CACHE_HOME/switchyard/policies` (or `~/.cache/…`) when absent.
    pub cache_dir: Option<PathBuf>,
    /// Keep compiled components on disk at all.
    #[serde(default = "default_true")]
    pub disk_cache: bool,
}

impl Default for PoliciesConfig {
    fn default() -> Self {
        Self {
            dir: None,
            watch: true,
            cache_dir: None,
            disk_cache: true,
        }
    }
}

fn default_true() -> bool {
    true
}

/// `[[listeners]]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Name, for logs.
    pub name: String,
    /// Address to listen on (HTTP/1.1 and h2c on the same port).
    pub listen: Address,
    /// What its clients speak: HTTP (`"http"`), or anything (`"tcp"`: each connection
    /// is relayed as it comes to an endpoint its cluster's policy picks).
    #[serde(default)]
    pub protocol: ListenerProtocol,
    /// Cluster that serves all its requests; a listener has this or `routes`.
    pub cluster: Option<String>,
    /// Routes, tried in order: the first that matches a request says where it goes.
    /// On a TCP listener they match only `host`: the name a TLS client asks for (SNI),
    /// read with `tls_passthrough`.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// TCP listeners: peers (addresses or prefixes) that start each connection with a
    /// PROXY protocol header (v1 or v2) naming the client; it must come within
    /// `header_read_timeout`. A connection from anyone else is taken as it is.
    #[serde(default)]
    pub accept_proxy_from: Vec<Cidr>,
    /// TCP listeners: read the server name (SNI) from a TLS client's first message,
    /// without terminating TLS, for routes (`match.host`) and the policy (the
    /// request's authority); the TLS session goes to the endpoint untouched.
    #[serde(default)]
    pub tls_passthrough: bool,
    /// A client must send its request headers within this time.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout: Dur,
    /// Largest request head accepted (bigger gets 431).
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Largest request body accepted (a larger one gets 413); unlimited when absent.
    pub max_request_body_bytes: Option<u64>,
    /// A client uploading a body may pause this long (then 408).
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout: Dur,
    /// A client connection with no request in progress is closed after this long
    /// (HTTP/2: with GOAWAY); on a TCP listener, a connection that moves no byte
    /// either way. Default 60s on HTTP listeners, 1h on TCP ones.
    pub idle_timeout: Option<Dur>,
    /// Streams an HTTP/2 client may have open at once on one connection.
    #[serde(default = "default_h2_max_concurrent_streams")]
    pub h2_max_concurrent_streams: u32,
    /// Client connections open at once, over all workers; beyond it a new connection
    /// is closed as soon as it is accepted. Unlimited when absent.
    pub max_connections: Option<usize>,
    /// What becomes of an `X-Forwarded-Client-Cert` header a client sends.
    #[serde(default)]
    pub forward_client_cert: ForwardClientCert,
    /// What becomes of an `X-Forwarded-Proto` header a client sends.
    #[serde(default)]
    pub forwarded_proto: ForwardedProto,
    /// TLS termination; cleartext (HTTP/1.1 and h2c) when absent.
    pub tls: Option<ListenerTlsConfig>,
    /// Protocols an HTTP/1.1 request may upgrade to (`Upgrade`), and an HTTP/2 one by
    /// extended CONNECT (`websocket` only); the connection becomes a tunnel to the
    /// endpoint. `h2c` is never allowed.
    #[serde(default = "default_upgrades")]
    pub upgrades: Vec<String>,
    /// Tunnels (upgraded connections) open at once, over all workers; an upgrade
    /// beyond it gets 503.
    #[serde(default = "default_max_tunnels")]
    pub max_tunnels: usize,
}

/// `[[listeners.routes]]`: which requests (`match`), and where they go: one `cluster`,
/// a weighted split over `clusters`, or a direct answer (`respond`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Name in the access log and metrics; its index when absent.
    pub name: Option<String>,
    /// What a request must have; everything when empty.
    #[serde(rename = "match", default)]
    pub matches: MatchConfig,
    /// The cluster its requests go to.
    pub cluster: Option<String>,
    /// Clusters its requests are split over by weight.
    #[serde(default)]
    pub clusters: Vec<WeightedCluster>,
    /// With `clusters`: a hash source (`header:NAME`, `cookie:NAME`, `path`,
    /// `authority`, `client-ip`) that keeps one user on one side of the split; a
    /// request without it is split by weight alone.
    pub sticky: Option<String>,
    /// What the endpoint gets instead of the client's path prefix and host.
    #[serde(default)]
    pub rewrite: RewriteConfig,
    /// Overrides of the cluster's timeouts for this route's requests.
    #[serde(default)]
    pub timeouts: RouteTimeoutsConfig,
    /// Overrides of the cluster's retry rules for this route's requests.
    #[serde(default)]
    pub retries: RouteRetriesConfig,
    /// A direct answer from the proxy, no cluster asked.
    pub respond: Option<RespondConfig>,
}

/// `match` of a route: every condition given must hold.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// `api.example.com`, or `*.example.com` for any name below it; case-insensitive,
    /// the port ignored.
    pub host: Option<String>,
    /// Whole leading path segments: `/v2` matches `/v2` and `/v2/x`, not `/v2x`.
    pub path_prefix: Option<String>,
    /// The exact path (without the query).
    pub path: Option<String>,
    /// A regular expression the whole path (without the query) must match.
    pub path_regex: Option<String>,
    /// The method, such as `GET`.
    pub method: Option<String>,
    /// Headers by name: an exact value, `{ present = true|false }` or `{ regex = "…" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderMatchConfig>,
    /// A gRPC service (`pkg.Service`): gRPC calls to any of its methods.
    pub grpc_service: Option<String>,
    /// A gRPC method (`pkg.Service/Method`).
    pub grpc_method: Option<String>,
}

/// What a header of a route's `match` must be.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum HeaderMatchConfig {
    /// Exactly this value.
    Value(String),
    /// Present (`true`) or absent (`false`).
    Present {
        /// Whether the header must be there.
        present: bool,
    },
    /// A value the regular expression matches whole.
    Regex {
        /// The expression.
        regex: String,
    },
}

/// One side of a weighted split.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WeightedCluster {
    /// The cluster.
    pub name: String,
    /// Its share, relative to the others' (0: none for now).
    pub weight: u32,
}

/// `rewrite` of a route.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RewriteConfig {
    /// Replaces the path prefix the route matched (`match.path_prefix`).
    pub path_prefix: Option<String>,
    /// Replaces the host (`Host`, or `:authority` upstream over HTTP/2).
    pub host: Option<String>,
}

/// `timeouts` of a route: each replaces the cluster's.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteTimeoutsConfig {
    /// From the first attempt to the response headers, retries included.
    pub request: Option<Dur>,
    /// One attempt.
    pub per_try: Option<Dur>,
    /// Longest pause of a body being relayed.
    pub body_idle: Option<Dur>,
}

/// `retries` of a route: each replaces the cluster's.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteRetriesConfig {
    /// Attempts per request, the first included.
    pub attempts: Option<u32>,
    /// Response statuses retried.
    pub on_status: Option<Vec<u16>>,
    /// gRPC status codes retried.
    pub on_grpc_status: Option<Vec<u32>>,
    /// A request with this header counts as idempotent.
    pub idempotent_header: Option<String>,
}

/// `respond` of a route: the proxy's own answer.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RespondConfig {
    /// The status, 200 to 599.
    pub status: u16,
    /// Its headers, such as `location`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Its body; empty when absent.
    #[serde(default)]
    pub body: String,
}

/// `[listeners.tls]`: the listener's certificates, and whether clients must present
/// one. File paths are relative to the configuration file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenerTlsConfig {
    /// The default certificate chain (PEM, leaf first): for clients that send no
    /// server name, or one no entry of `certificates` has.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM: PKCS#8, SEC1 or PKCS#1).
    pub key: Option<PathBuf>,
    /// More certificates, chosen by the server name a client asks for (SNI).
    #[serde(default)]
    pub certificates: Vec<CertificateConfig>,
    /// CA certificates (PEM) that client certificates must chain to; when set, every
    /// client must present one (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// Oldest TLS version accepted: "1.2" (default) or "1.3".
    #[serde(default)]
    pub min_version: TlsVersion,
}

/// One certificate of a listener, for the server names it serves.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// Names it is chosen for: exact (`api.example.com`) or a wildcard for one label
    /// (`*.example.com`). Empty: the names in the certificate itself.
    #[serde(default)]
    pub server_names: Vec<String>,
    /// Certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 (and 1.3).
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    Tls13,
}

/// What happens to the `X-Forwarded-Client-Cert` header a client sends (Envoy's
/// names). Either way, a client certificate verified on a TLS listener is added.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ForwardClientCert {
    /// Removed: only the proxy says who the client is.
    #[default]
    SanitizeSet,
    /// Kept, for a proxy behind another that the endpoints trust.
    AppendForward,
}

/// What happens to the `X-Forwarded-Proto` header a client sends.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ForwardedProto {
    /// Replaced by the scheme the client used (`http` or `https`): a cleartext client
    /// cannot pass for an HTTPS one.
    #[default]
    Set,
    /// Kept when the client sent one (else set): for a listener only a TLS-terminating
    /// load balancer reaches, which says what its client used.
    IfAbsent,
}

/// Which version of the PROXY protocol header a proxy sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyProtocolVersion {
    /// The text line (`PROXY TCP4 …\r\n`).
    V1,
    /// The binary header.
    V2,
}

/// What a listener's clients speak.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ListenerProtocol {
    /// HTTP/1.1 and h2c (or HTTP/2 by ALPN with TLS).
    #[default]
    Http,
    /// Bytes relayed as they come, a connection at a time.
    Tcp,
}

impl ListenerProtocol {
    /// Its name as configuration writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerProtocol::Http => "http",
            ListenerProtocol::Tcp => "tcp",
        }
    }
}

/// Protocol spoken to upstream endpoints.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// HTTP/2 with prior knowledge (h2c) for gRPC calls (HTTP/2 requests with
    /// `content-type` `application/grpc`, `application/grpc+…` or
    /// `application/grpc;…`), HTTP/1.1 for everything else (gRPC-Web included).
    #[default]
    Auto,
    /// Always HTTP/1.1.
    Http1,
    /// Always HTTP/2 with prior knowledge (h2c).
    Http2,
}

/// `[clusters.tls]`: TLS to the cluster's endpoints. File paths are relative to the
/// configuration file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterTlsConfig {
    /// CA certificates (PEM) the endpoints' certificates must chain to; the system's
    /// trusted roots when absent.
    pub ca: Option<PathBuf>,
    /// The name sent (SNI) and verified in the endpoints' certificates. Without it no
    /// name is sent, and a certificate must carry the endpoint's IP address; an
    /// endpoint's `server_name` metadata overrides it.
    pub server_name: Option<String>,
    /// A client certificate chain (PEM, leaf first) for endpoints that ask for one.
    pub client_cert: Option<PathBuf>,
    /// Its private key.
    pub client_key: Option<PathBuf>,
    /// Accept any certificate (logged as a warning at start): for tests only.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// `[[clusters]]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Name that listeners refer to.
    pub name: String,
    /// A built-in policy, or NAME of `NAME.wasm` in the policy directory; unset: the
    /// default policy (round-robin).
    pub policy: Option<String>,
    /// Key/values for the policy's `init`.
    #[serde(default)]
    pub policy_config: BTreeMap<String, ConfigValue>,
    /// Sandbox limits of the policy.
    #[serde(default)]
    pub policy_limits: PolicyLimitsConfig,
    /// The endpoints of a static cluster.
    #[serde(default)]
    pub endpoints: Vec<EndpointConfig>,
    /// Where the endpoints come from: `endpoints` above (static), a watched file,
    /// DNS, or etcd.
    #[serde(default)]
    pub discovery: DiscoveryConfig,
    /// Upstream protocol.
    #[serde(default)]
    pub protocol: UpstreamProtocol,
    /// TLS to its endpoints; cleartext when absent.
    pub tls: Option<ClusterTlsConfig>,
    /// Clusters of TCP listeners: start each connection to an endpoint (health probes
    /// too) with a PROXY protocol header of this version (`"v1"` or `"v2"`) naming
    /// the client; none when absent.
    pub send_proxy_protocol: Option<ProxyProtocolVersion>,
    /// Upstream timeouts.
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    /// Upstream connection pool.
    #[serde(default)]
    pub pool: PoolConfig,
    /// Retries of idempotent requests; off unless `attempts` > 1.
    #[serde(default)]
    pub retries: RetriesConfig,
    /// A circuit breaker per endpoint; none when absent.
    pub circuit_breaker: Option<BreakerConfig>,
    /// Limits on the whole cluster.
    #[serde(default)]
    pub limits: ClusterLimitsConfig,
    /// The health scorer: a built-in or NAME of `NAME.wasm` in the policy directory.
    /// Health checking is on when this or `health_check` is set.
    pub health_policy: Option<String>,
    /// Key/values for the health scorer's `init`.
    #[serde(default)]
    pub health_config: BTreeMap<String, ConfigValue>,
    /// Active probes; none when absent.
    pub health_check: Option<HealthCheckConfig>,
    /// Below this share of available endpoints (percent), balance across all of them.
    #[serde(default = "default_panic_threshold")]
    pub panic_threshold: u32,
    /// A recovered endpoint's weight ramps up over this window ("0s": at once).
    #[serde(default = "default_slow_start")]
    pub slow_start: Dur,
    /// Time constant with which an endpoint's error rate fades toward 0 and its
    /// latency EWMA toward the cluster's median while no request refreshes them.
    #[serde(default = "default_load_decay")]
    pub load_decay: Dur,
    /// What the endpoints report about their own load, collected for the policy;
    /// nothing when absent.
    pub load_reports: Option<LoadReportsConfig>,
    /// How candidate versions of the policy (`NAME.canary.wasm`) are tried, promoted
    /// and rolled back.
    #[serde(default)]
    pub rollout: RolloutConfig,
}

/// `[clusters.rollout]`: how a candidate version of the cluster's policy is tried
/// beside the serving one, and when it is promoted or rolled back. The rules compare
/// the candidate's requests with the serving version's over the whole window since it
/// was staged.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RolloutConfig {
    /// How a dropped `NAME.canary.wasm` is tried: `canary` (it answers
    /// `canary_percent` of picks) or `shadow` (it is only asked, off the request path,
    /// on `shadow_sample` of picks).
    #[serde(default)]
    pub mode: RolloutModeConfig,
    /// Percent of picks a canary answers.
    #[serde(default = "default_canary_percent")]
    pub canary_percent: f64,
    /// Share of picks (0–1) also put to a shadow.
    #[serde(default = "default_shadow_sample")]
    pub shadow_sample: f64,
    /// A hash source (`header:NAME`, `cookie:NAME`, `path`, `authority`, `client-ip`)
    /// that keeps one user on one version in canary mode; each request is drawn at
    /// random when absent, or when the request lacks it.
    pub sticky: Option<String>,
    /// A canary within the rules this long, with `min_requests`, is promoted.
    #[serde(default = "default_promote_after")]
    pub promote_after: Dur,
    /// Most the canary's error rate (5xx) may exceed the serving version's: 0.01 is
    /// one percentage point.
    #[serde(default = "default_max_error_rate_delta")]
    pub max_error_rate_delta: f64,
    /// Most the canary's p99 latency may be, as a multiple of the serving version's.
    #[serde(default = "default_max_p99_ratio")]
    pub max_p99_ratio: f64,
    /// A p99 difference under this never breaks `max_p99_ratio`.
    #[serde(default = "default_min_p99_delta")]
    pub min_p99_delta: Dur,
    /// Requests the canary must have answered before the rules judge it.
    #[serde(default = "default_rollout_min_requests")]
    pub min_requests: u64,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            mode: RolloutModeConfig::default(),
            canary_percent: default_canary_percent(),
            shadow_sample: default_shadow_sample(),
            sticky: None,
            promote_after: default_promote_after(),
            max_error_rate_delta: default_max_error_rate_delta(),
            max_p99_ratio: default_max_p99_ratio(),
            min_p99_delta: default_min_p99_delta(),
            min_requests: default_rollout_min_requests(),
        }
    }
}

/// `mode` of `[clusters.rollout]`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RolloutModeConfig {
    /// The candidate answers a share of picks.
    #[default]
    Canary,
    /// The candidate is only asked, and its answers compared.
    Shadow,
}

/// `[clusters.load_reports]`: metrics the endpoints report about their own load,
/// stored per endpoint for the cluster's policy (which reads them by name).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoadReportsConfig {
    /// Read ORCA per-request reports: the `endpoint-load-metrics-bin` (gRPC, in
    /// trailers or headers) and `endpoint-load-metrics` (TEXT / JSON / BIN) response
    /// headers. Metrics `cpu_utilization`, `mem_utilization`,
    /// `application_utilization`, `rps_fractional`, `eps`, `named_metrics.NAME`.
    #[serde(default = "default_true")]
    pub orca: bool,
    /// Response headers (or trailers) whose numeric value is stored as a metric of
    /// the same, lower-case name.
    #[serde(default)]
    pub report_headers: Vec<String>,
    /// An out-of-band scrape of each endpoint's Prometheus metrics; none when absent.
    pub scrape: Option<ScrapeConfig>,
}

/// `scrape = { ... }` of `[clusters.load_reports]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// The path scraped on every endpoint, over the cluster's protocol (TLS too).
    #[serde(default = "default_scrape_path")]
    pub path: String,
    /// Time between scrapes of one endpoint.
    #[serde(default = "default_scrape_interval")]
    pub interval: Dur,
    /// Longest a scrape may take; at most `interval`.
    #[serde(default = "default_scrape_timeout")]
    pub timeout: Dur,
    /// Series stored, each a metric of this name as written: `NAME`, the sum of every
    /// series of that name, or `NAME{label="value",...}`, the sum of those with these
    /// labels.
    pub metrics: Vec<String>,
}

/// What an active probe asks.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// An HTTP/1.1 `GET` of `path`.
    #[default]
    Http,
    /// A TCP connect.
    Tcp,
    /// `grpc.health.v1.Health/Check` over h2c.
    Grpc,
}

/// `[clusters.health_check]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Probe kind.
    #[serde(default)]
    pub kind: ProbeKind,
    /// HTTP path to get.
    #[serde(default = "default_health_path")]
    pub path: String,
    /// HTTP `Host` header; the endpoint's address when absent.
    pub host: Option<String>,
    /// Statuses that pass, as `"200"` or `"200-399"`.
    #[serde(default = "default_expect_status")]
    pub expect_status: StatusRange,
    /// Text the HTTP response body must contain.
    pub expect_body: Option<String>,
    /// gRPC service name to check; empty: the server as a whole.
    #[serde(default)]
    pub grpc_service: String,
    /// Time between probes of one endpoint.
    #[serde(default = "default_probe_interval")]
    pub interval: Dur,
    /// A probe that takes longer fails.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Dur,
    /// Each interval is lengthened by a random amount up to this.
    #[serde(default = "default_probe_jitter")]
    pub jitter: Dur,
    /// Consecutive passing probes that bring an endpoint back.
    #[serde(default = "default_healthy_threshold")]
    pub healthy_threshold: u32,
    /// Consecutive failing probes that take an endpoint out.
    #[serde(default = "default_unhealthy_threshold")]
    pub unhealthy_threshold: u32,
}

/// An inclusive range of HTTP statuses, written `"200"` or `"200-399"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusRange {
    /// Lowest passing status.
    pub low: u16,
    /// Highest passing status.
    pub high: u16,
}

impl<'de> Deserialize<'de> for StatusRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let (low, high) = text.split_once('-').unwrap_or((&text, &text));
        let status = |s: &str| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|s| (100..=599).contains(s))
        };
        match (status(low), status(high)) {
            (Some(low), Some(high)) if low <= high => Ok(StatusRange { low, high }),
            _ => Err(de::Error::custom(format!(
                "invalid status range {text:?} (expected e.g. \"200\" or \"200-399\", statuses 100 to 599)"
            ))),
        }
    }
}

/// `policy_limits` of a cluster.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyLimitsConfig {
    /// CPU deadline of one pick.
    #[serde(default = "default_pick_deadline")]
    pub pick_deadline: Dur,
    /// Memory cap per instance, in MiB.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: usize,
}

impl Default for PolicyLimitsConfig {
    fn default() -> Self {
        Self {
            pick_deadline: default_pick_deadline(),
            memory_mib: default_memory_mib(),
        }
    }
}

/// A `policy_config` value: strings, numbers and booleans are handed over as text.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigValue(pub String);

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(deserializer)? {
            toml::Value::String(s) => Ok(ConfigValue(s)),
            toml::Value::Integer(i) => Ok(ConfigValue(i.to_string())),
            toml::Value::Float(f) => Ok(ConfigValue(f.to_string())),
            toml::Value::Boolean(b) => Ok(ConfigValue(b.to_string())),
            other => Err(de::Error::custom(format!(
                "expected a string, number or boolean, found {}",
                other.type_str()
            ))),
        }
    }
}

/// `discovery` of a cluster.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum DiscoveryConfig {
    /// The cluster's `endpoints` list.
    #[default]
    Static,
    /// A TOML (`endpoints = [...]`) or JSON (`[...]` or `{"endpoints": [...]}`) file
    /// of endpoints, re-read when it changes.
    File {
        /// The file, relative to the configuration file.
        path: PathBuf,
        /// How long an empty result is ignored before it empties the cluster.
        #[serde(default = "default_empty_grace")]
        empty_grace: Dur,
    },
    /// A name's A/AAAA or SRV records, re-resolved at their TTL.
    Dns {
        /// The name to resolve.
        name: String,
        /// `a` (A and AAAA, with `port`) or `srv` (targets and ports from SRV).
        #[serde(default)]
        record: DnsRecord,
        /// The endpoints' port, for `a` records.
        port: Option<u16>,
        /// The nameserver (`ip:port`, UDP); the system's when absent.
        nameserver: Option<Address>,
        /// Re-resolve no sooner than this after a lookup, whatever the TTL.
        #[serde(default = "default_min_refresh")]
        min_refresh: Dur,
        /// Re-resolve at least this often.
        #[serde(default = "default_max_refresh")]
        max_refresh: Dur,
        /// How long an empty result is ignored before it empties the cluster.
        #[serde(default = "default_empty_grace")]
        empty_grace: Dur,
    },
    /// The endpoints under a key prefix in etcd, watched.
    Etcd {
        /// etcd client URLs, e.g. `http://127.0.0.1:2379`.
        endpoints: Vec<String>,
        /// The key prefix, e.g. `/services/user/`.
        prefix: String,
        /// How long an empty result is ignored before it empties the cluster.
        #[serde(default = "default_empty_grace")]
        empty_grace: Dur,
    },
}

/// Which DNS records name a cluster's endpoints.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DnsRecord {
    /// A and AAAA records, with the configured port.
    #[default]
    A,
    /// SRV records: each target's addresses with the record's port and weight.
    Srv,
}

/// One endpoint of a static cluster.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// `ip:port`.
    pub address: Address,
    /// Relative weight, at least 1.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Locality zone.
    #[serde(default)]
    pub zone: String,
    /// Free-form labels for policies.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// `[clusters.timeouts]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Establishing an upstream connection.
    #[serde(default = "default_connect")]
    pub connect: Dur,
    /// From the first attempt to the response headers, retries included.
    #[serde(default = "default_request")]
    pub request: Dur,
    /// One attempt, from sending it to the response headers (capped by `request`).
    #[serde(default = "default_per_try")]
    pub per_try: Dur,
    /// While a body is relayed, longest time in which no byte moves; then the exchange
    /// is cut off.
    #[serde(default = "default_body_idle")]
    pub body_idle: Dur,
    /// A tunnel (an upgraded connection) in which no byte moves either way for this
    /// long is closed.
    #[serde(default = "default_tunnel_idle")]
    pub tunnel_idle: Dur,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        Self {
            connect: default_connect(),
            request: default_request(),
            per_try: default_per_try(),
            body_idle: default_body_idle(),
            tunnel_idle: default_tunnel_idle(),
        }
    }
}

/// `[log]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (the default) or `json`, one object per line.
    #[serde(default)]
    pub format: LogFormat,
    /// One line per request on the `access` target.
    #[serde(default)]
    pub access: bool,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[clusters.limits]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterLimitsConfig {
    /// Requests in flight to the cluster at once; more are answered 503 at once.
    pub max_requests: Option<u32>,
    /// Upstream connections open to the cluster's endpoints at once (idle pooled ones
    /// included); a request that needs another waits for one to close.
    pub max_connections: Option<u32>,
    /// Requests waiting for a connection under `max_connections`; more are answered
    /// 503 at once.
    #[serde(default = "default_max_pending")]
    pub max_pending: u32,
}

impl Default for ClusterLimitsConfig {
    fn default() -> Self {
        Self {
            max_requests: None,
            max_connections: None,
            max_pending: default_max_pending(),
        }
    }
}

/// `[clusters.circuit_breaker]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Failure percentage over the window that opens an endpoint's breaker …
    #[serde(default = "default_failure_percent")]
    pub failure_percent: u32,
    /// … once the window holds at least this many requests.
    #[serde(default = "default_min_requests")]
    pub min_requests: u32,
    /// Counting window while closed.
    #[serde(default = "default_breaker_window")]
    pub window: Dur,
    /// How long an open breaker refuses requests before trials.
    #[serde(default = "default_cool_down")]
    pub cool_down: Dur,
    /// Trial requests while half-open; all must succeed to close.
    #[serde(default = "default_half_open")]
    pub half_open_requests: u32,
}

/// `[clusters.retries]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetriesConfig {
    /// Attempts per request, the first included; 1 turns retries off.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// First backoff ceiling (full jitter below it); doubles per retry.
    #[serde(default = "default_backoff_base")]
    pub backoff_base: Dur,
    /// Largest backoff ceiling.
    #[serde(default = "default_backoff_max")]
    pub backoff_max: Dur,
    /// Response statuses retried.
    #[serde(default = "default_retry_on")]
    pub on_status: Vec<u16>,
    /// A request with this header counts as idempotent whatever its method.
    pub idempotent_header: Option<String>,
    /// gRPC status codes retried (gRPC calls are retried on these only; none by default).
    #[serde(default)]
    pub on_grpc_status: Vec<u32>,
    /// Request bodies up to this many bytes are kept for replay; larger ones are not
    /// retried.
    #[serde(default = "default_buffer_bytes")]
    pub buffer_bytes: usize,
    /// Retries allowed as a percentage of requests over 10 s.
    #[serde(default = "default_budget_percent")]
    pub budget_percent: u32,
    /// Retries allowed per second whatever the traffic.
    #[serde(default = "default_budget_min")]
    pub budget_min_per_second: u32,
}

impl Default for RetriesConfig {
    fn default() -> Self {
        Self {
            attempts: default_attempts(),
            backoff_base: default_backoff_base(),
            backoff_max: default_backoff_max(),
            on_status: default_retry_on(),
            idempotent_header: None,
            on_grpc_status: Vec::new(),
            buffer_bytes: default_buffer_bytes(),
            budget_percent: default_budget_percent(),
            budget_min_per_second: default_budget_min(),
        }
    }
}

/// `[clusters.pool]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Idle HTTP/1.1 connections kept per endpoint and worker.
    #[serde(default = "default_max_idle")]
    pub max_idle_per_endpoint: usize,
    /// Idle connections are closed after this long (the pool is swept every second).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: Dur,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_idle_per_endpoint: default_max_idle(),
            idle_timeout: default_idle_timeout(),
        }
    }
}

/// A socket address, with an error that quotes what was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Address(pub SocketAddr);

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map(Address)
            .map_err(|_| de::Error::custom(format!("invalid socket address {text:?}")))
    }
}

fn default_drain() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_header_read_timeout() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_max_header_bytes() -> usize {
    64 << 10
}
fn default_body_read_timeout() -> Dur {
    Dur(Duration::from_secs(60))
}
fn default_h2_max_concurrent_streams() -> u32 {
    100
}
fn default_body_idle() -> Dur {
    Dur(Duration::from_secs(60))
}
fn default_tunnel_idle() -> Dur {
    Dur(Duration::from_secs(3600))
}
fn default_upgrades() -> Vec<String> {
    vec!["websocket".into()]
}
fn default_max_tunnels() -> usize {
    10_000
}
fn default_pick_deadline() -> Dur {
    Dur(Duration::from_millis(1))
}
fn default_memory_mib() -> usize {
    16
}
fn default_weight() -> u32 {
    1
}
fn default_connect() -> Dur {
    Dur(Duration::from_millis(500))
}
fn default_request() -> Dur {
    Dur(Duration::from_secs(3))
}
fn default_failure_percent() -> u32 {
    50
}
fn default_min_requests() -> u32 {
    20
}
fn default_breaker_window() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_cool_down() -> Dur {
    Dur(Duration::from_secs(60))
}
fn default_half_open() -> u32 {
    3
}
fn default_per_try() -> Dur {
    Dur(Duration::from_secs(2))
}
fn default_attempts() -> u32 {
    1
}
fn default_backoff_base() -> Dur {
    Dur(Duration::from_millis(25))
}
fn default_backoff_max() -> Dur {
    Dur(Duration::from_millis(250))
}
fn default_retry_on() -> Vec<u16> {
    vec![502, 503, 504]
}
fn default_budget_percent() -> u32 {
    20
}
fn default_budget_min() -> u32 {
    3
}
fn default_fleet_prefix() -> String {
    "/switchyard/".into()
}
fn default_empty_grace() -> Dur {
    Dur(Duration::from_secs(30))
}
fn default_min_refresh() -> Dur {
    Dur(Duration::from_secs(1))
}
fn default_max_refresh() -> Dur {
    Dur(Duration::from_secs(60))
}
fn default_max_pending() -> u32 {
    1024
}
fn default_buffer_bytes() -> usize {
    64 * 1024
}
fn default_max_idle() -> usize {
    // h2c clients multiplex many requests onto few connections; each becomes an
    // HTTP/1.1 upstream exchange, so the pool must hold as many as are in flight.
    256
}
fn default_panic_threshold() -> u32 {
    50
}
fn default_scrape_path() -> String {
    "/metrics".into()
}
fn default_scrape_interval() -> Dur {
    Dur(Duration::from_secs(1))
}
fn default_scrape_timeout() -> Dur {
    Dur(Duration::from_millis(500))
}
fn default_load_decay() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_canary_percent() -> f64 {
    switchyard_policy::DEFAULT_CANARY_PERCENT
}
fn default_shadow_sample() -> f64 {
    switchyard_policy::DEFAULT_SHADOW_SAMPLE
}
fn default_promote_after() -> Dur {
    Dur(RolloutRules::default().promote_after)
}
fn default_max_error_rate_delta() -> f64 {
    RolloutRules::default().max_error_rate_delta
}
fn default_max_p99_ratio() -> f64 {
    RolloutRules::default().max_p99_ratio
}
fn default_min_p99_delta() -> Dur {
    Dur(RolloutRules::default().min_p99_delta)
}
fn default_rollout_min_requests() -> u64 {
    RolloutRules::default().min_requests
}
fn default_slow_start() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_health_path() -> String {
    "/health".into()
}
fn default_expect_status() -> StatusRange {
    StatusRange {
        low: 200,
        high: 299,
    }
}
fn default_probe_interval() -> Dur {
    Dur(Duration::from_secs(1))
}
fn default_probe_timeout() -> Dur {
    Dur(Duration::from_millis(500))
}
fn default_probe_jitter() -> Dur {
    Dur(Duration::from_millis(50))
}
fn default_healthy_threshold() -> u32 {
    2
}
fn default_unhealthy_threshold() -> u32 {
    3
}
fn default_idle_timeout() -> Dur {
    Dur(Duration::from_secs(60))
}
