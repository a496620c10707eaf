//! A cluster's TLS client side: the endpoints' certificates verified against its CA (or
//! the system's roots), the name sent and checked (the cluster's, an endpoint's own,
//! or else the endpoint's IP address), a client certificate for endpoints that ask, and
//! ALPN for the protocol wanted. Its files are reloaded like a listener's.

use super::files::{FileError, read_pair, read_roots};
use super::reloading::{
    Build, CertificateStatus, Reload, Reloaded, Reloading, TlsError, TlsStatus,
};
use crate::config::model::ClusterTlsConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use switchyard_policy::cluster::Member;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The protocols a connection offers by ALPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alpn {
    /// `http/1.1` only.
    Http1,
    /// `h2` only.
    Http2,
    /// `h2` or `http/1.1`: the endpoint chooses.
    Either,
}

/// A cluster's TLS client side.
pub struct Originator {
    /// Unique in the process: pooled connections are kept apart by it.
    id: u64,
    material: Reloading<Sources>,
    server_name: Option<ServerName<'static>>,
}

/// A client configuration by [`Alpn`]: `http/1.1`, `h2`, both.
type Configs = [Arc<ClientConfig>; 3];

/// What a cluster's client configurations are built from.
struct Sources {
    /// Prefix of the configuration keys, such as `clusters[0].tls`.
    keys: String,
    settings: ClusterTlsConfig,
    provider: Arc<CryptoProvider>,
}

impl Originator {
    /// Reads the cluster's CA and client certificate (configuration keys under
    /// `keys`); fails on the first file that cannot be used.
    pub fn new(cluster: &str, keys: &str, settings: &ClusterTlsConfig) -> Result<Self, TlsError> {
        let server_name = match &settings.server_name {
            Some(name) => Some(ServerName::try_from(name.clone()).map_err(|_| {
                let reason = format!("{name:?} is not a DNS name");
                TlsError::at(keys, "server_name", FileError::new(Path::new(""), reason))
            })?),
            None => None,
        };
        let sources = Sources {
            keys: keys.to_string(),
            settings: settings.clone(),
            provider: super::provider(),
        };
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(Self {
            id: IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            material: Reloading::new(format!("cluster {cluster:?}"), sources)?,
            server_name,
        })
    }

    /// Unique in the process (an originator built anew on a reload gets another).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How many times its files were loaded again: a pooled connection of an earlier
    /// count is not reused.
    pub fn generation(&self) -> u64 {
        self.material.generation()
    }

    /// What it has loaded (its client certificate), and its last failure.
    pub fn status(&self) -> TlsStatus {
        self.material.status()
    }

    /// Starts TLS on `tcp` to the endpoint at `addr` (whose own server name is
    /// `named`, if it has one), offering `alpn`: the stream, and whether the endpoint
    /// chose HTTP/2. The error says why in words.
    pub async fn connect(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
        named: Option<&str>,
        alpn: Alpn,
    ) -> Result<(TlsStream<TcpStream>, bool), String> {
        let name = match named {
            Some(name) => ServerName::try_from(name.to_string())
                .map_err(|_| format!("{addr}: server_name {name:?} is not a DNS name"))?,
            None => self
                .server_name
                .clone()
                .unwrap_or(ServerName::IpAddress(addr.ip().into())),
        };
        let by_ip = matches!(name, ServerName::IpAddress(_));
        let config = Arc::clone(&self.material.built()[alpn as usize]);
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| handshake_error(addr, &e, by_ip))?;
        let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok((stream, http2))
    }
}

impl Reload for Originator {
    fn files(&self) -> Vec<PathBuf> {
        self.material.files()
    }

    fn reload(&self) -> Reloaded {
        self.material.reload()
    }
}

impl std::fmt::Debug for Originator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = &self.material.builder().keys;
        f.debug_struct("Originator").field("keys", keys).finish()
    }
}

impl Build for Sources {
    type Built = Configs;

    fn files(&self) -> Vec<PathBuf> {
        let s = &self.settings;
        [&s.ca, &s.client_cert, &s.client_key]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// The client configurations from the files, and the client certificate.
    fn build(&self) -> Result<(Configs, Vec<CertificateStatus>), TlsError> {
        let (settings, provider) = (&self.settings, &self.provider);
        let error = |key: &str, error: FileError| TlsError::at(&self.keys, key, error);
        let verifier: Arc<dyn ServerCertVerifier> = if settings.insecure_skip_verify {
            Arc::new(AnyCertificate(Arc::clone(provider)))
        } else {
            let roots = match &settings.ca {
                Some(ca) => read_roots(ca).map_err(|e| error("ca", e))?,
                None => system_roots(),
            };
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
                .build()
                .map_err(|e| {
                    let file = settings.ca.as_deref().unwrap_or(Path::new(""));
                    let reason = format!("cannot verify endpoints with it: {e}");
                    error("ca", FileError::new(file, reason))
                })?
        };
        let mut certificates = Vec::new();
        let client = match (&settings.client_cert, &settings.client_key) {
            (Some(cert), Some(key)) => {
                let pair = read_pair(cert, key, provider, SystemTime::now()).map_err(|e| {
                    let which = if e.file == *key {
                        "client_key"
                    } else {
                        "client_cert"
                    };
                    error(which, e)
                })?;
                certificates.push(CertificateStatus {
                    file: cert.clone(),
                    server_names: Vec::new(),
                    info: pair.info,
                });
                Some(Arc::new(ClientCert(pair.key)))
            }
            _ => None,
        };
        let config = |alpn: &[&[u8]]| {
            let builder = ClientConfig::builder_with_provider(Arc::clone(provider))
                .with_safe_default_protocol_versions()
                .expect("the provider's defaults")
                .dangerous()
                .with_custom_certificate_verifier(Arc::clone(&verifier));
            let mut config = match &client {
                Some(client) => builder.with_client_cert_resolver(client.clone()),
                None => builder.with_no_client_auth(),
            };
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Arc::new(config)
        };
        let configs = [
            config(&[b"http/1.1"]),
            config(&[b"h2"]),
            config(&[b"h2", b"http/1.1"]),
        ];
        Ok((configs, certificates))
    }
}

/// An endpoint's own TLS server name: its `server_name` metadata.
pub fn server_name(member: &Member) -> Option<&str> {
    let named = member.metadata.iter().find(|(key, _)| key == "server_name");
    named.map(|(_, name)| name.as_str())
}

/// Why a TLS handshake with an endpoint failed, in words; a name mismatch without a
/// server name says what was checked.
fn handshake_error(addr: SocketAddr, error: &std::io::Error, by_ip: bool) -> String {
    let tls = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    let wrong_name = matches!(
        tls,
        Some(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        ))
    );
    if wrong_name && by_ip {
        return format!(
            "TLS handshake with {addr}: its certificate does not name {} (no server_name is \
             set, so none is sent and the certificate must carry the endpoint's IP address; \
             set [clusters.tls] server_name or the endpoint's server_name metadata)",
            addr.ip()
        );
    }
    format!("TLS handshake with {addr}: {error}")
}

/// The system's trusted roots (those it cannot read are left out, and logged).
fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!("reading the system's trusted certificates: {error}");
    }
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    roots
}

/// The client certificate offered to every endpoint that asks for one.
#[derive(Debug)]
struct ClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// `insecure_skip_verify`: any certificate is taken (the handshake's signatures are
/// still checked, so the endpoint holds the key of the certificate it shows).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
