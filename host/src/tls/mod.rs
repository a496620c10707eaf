//! TLS with rustls (aws-lc-rs): certificates and keys read from PEM files, every error
//! naming the file and the reason; a listener's server side ([`Terminator`]: SNI,
//! ALPN, resumption, client certificates); a cluster's client side ([`Originator`]);
//! both reloaded from their files without a restart; the verified client's identity as
//! `X-Forwarded-Client-Cert`.

mod failure;
mod files;
mod identity;
mod names;
mod reloading;
mod terminator;
mod upstream;

pub use failure::HandshakeFailure;
pub use files::{CertificateInfo, FileError};
pub use identity::{ClientIdentity, X_FORWARDED_CLIENT_CERT};
pub use reloading::{CertificateStatus, Reload, Reloaded, TlsError, TlsStatus};
pub use terminator::{Serving, Terminator};
pub use upstream::{Alpn, Originator, server_name};

use std::sync::Arc;

/// The crypto every TLS context of the proxy uses.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}
