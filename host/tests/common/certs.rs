//! Certificates made by the tests: a CA, and the leaves it signs, written as PEM files.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use std::path::{Path, PathBuf};

/// A certificate authority.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// Its certificate's PEM file.
    pub file: PathBuf,
}

/// A leaf certificate's files.
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    /// A new CA called `name`, its certificate written to `dir/NAME-ca.pem`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let file = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&file, issuer.pem()).unwrap();
        Self { issuer, file }
    }

    /// A leaf for `names` (DNS names or IP addresses) with common name `cn`, written
    /// to `dir/STEM.pem` and `dir/STEM.key`.
    pub fn leaf(&self, dir: &Path, stem: &str, cn: &str, names: &[&str]) -> Leaf {
        self.leaf_with(dir, stem, cn, names, |_| {})
    }

    /// As [`Ca::leaf`], with its parameters changed by `adjust` first.
    pub fn leaf_with(
        &self,
        dir: &Path,
        stem: &str,
        cn: &str,
        names: &[&str],
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        adjust(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let leaf = Leaf {
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}.key")),
        };
        std::fs::write(&leaf.cert, cert.pem()).unwrap();
        std::fs::write(&leaf.key, key.serialize_pem()).unwrap();
        leaf
    }
}

/// Copies the leaf `from` over the pair at `to`, the certificate first, then (after
/// `between`, a renewal's window where the key does not match) the key.
pub async fn replace_pair(from: &Leaf, to: &Leaf, between: std::time::Duration) {
    std::fs::copy(&from.cert, &to.cert).unwrap();
    tokio::time::sleep(between).await;
    std::fs::copy(&from.key, &to.key).unwrap();
}

/// A URI subject alternative name.
pub fn uri(uri: &str) -> SanType {
    SanType::URI(uri.try_into().unwrap())
}

/// Runs `program` with `args` (at most 20 s): whether it succeeded, stdout, stderr.
pub async fn run(program: &str, args: Vec<String>) -> (bool, String, String) {
    run_with_input(program, args, "").await
}

/// As [`run`], with `input` on its standard input.
pub async fn run_with_input(
    program: &str,
    args: Vec<String>,
    input: &str,
) -> (bool, String, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let (program, input) = (program.to_string(), input.to_string());
    let shown = format!("{program} {}", args.join(" "));
    let run = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&program)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().expect("piped");
        let _ = stdin.write_all(input.as_bytes());
        drop(stdin);
        child.wait_with_output()
    });
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), run)
        .await
        .unwrap_or_else(|_| panic!("{shown}: still running after 20 s"))
        .unwrap()
        .unwrap_or_else(|e| panic!("{shown}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The certificates of a mutual-TLS setup: a servers' CA and its leaf `server` (CN
/// `server`, for `server_names`), a clients' CA and its leaf `client` (CN `client`), and
/// a CA nobody trusts.
pub struct Pki {
    pub servers: Ca,
    pub server: Leaf,
    pub clients: Ca,
    pub client: Leaf,
    pub strangers: Ca,
}

impl Pki {
    /// Makes them in `dir`.
    pub fn new(dir: &Path, server_names: &[&str]) -> Self {
        let servers = Ca::new(dir, "servers");
        let server = servers.leaf(dir, "server", "server", server_names);
        let clients = Ca::new(dir, "clients");
        let client = clients.leaf(dir, "client", "client", &["client.test"]);
        let strangers = Ca::new(dir, "strangers");
        Self {
            servers,
            server,
            clients,
            client,
            strangers,
        }
    }
}

/// A TLS server side with the certificate and key of `leaf`.
pub fn acceptor(leaf: &Leaf) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<_> = CertificateDer::pem_file_iter(&leaf.cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&leaf.key).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

/// A TLS connection to `addr` for the server name `name`, trusting the certificates of
/// the PEM file `ca`.
pub async fn tls_connect(
    addr: std::net::SocketAddr,
    name: &str,
    ca: &Path,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    try_tls_connect(addr, name, ca).await.unwrap()
}

/// As [`tls_connect`], with the handshake's failure.
pub async fn try_tls_connect(
    addr: std::net::SocketAddr,
    name: &str,
    ca: &Path,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(name.to_string()).unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    connector.connect(name, tcp).await
}
