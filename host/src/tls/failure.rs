//! Why a client's TLS handshake failed, as counted by listener and reason.

/// Why a TLS handshake with a client failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// It did not finish within the listener's header read timeout.
    Timeout,
    /// The client closed or reset the connection first.
    Closed,
    /// The client sent an alert: it refused the proxy's certificate or parameters.
    ClientAlert,
    /// What the client sent was not TLS, or was malformed.
    Malformed,
    /// No version, cipher suite, group or signature scheme in common.
    Incompatible,
    /// No certificate for the server name the client asked for, and no default.
    NoCertificate,
    /// Client certificates are required and the client sent none.
    NoClientCertificate,
    /// The client's certificate did not verify.
    BadClientCertificate,
    /// Anything else.
    Other,
}

impl HandshakeFailure {
    /// Every reason, in the order counted.
    pub const ALL: [HandshakeFailure; 9] = [
        HandshakeFailure::Timeout,
        HandshakeFailure::Closed,
        HandshakeFailure::ClientAlert,
        HandshakeFailure::Malformed,
        HandshakeFailure::Incompatible,
        HandshakeFailure::NoCertificate,
        HandshakeFailure::NoClientCertificate,
        HandshakeFailure::BadClientCertificate,
        HandshakeFailure::Other,
    ];

    /// The `reason` label in metrics.
    pub fn label(self) -> &'static str {
        match self {
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::Closed => "closed",
            HandshakeFailure::ClientAlert => "client_alert",
            HandshakeFailure::Malformed => "malformed",
            HandshakeFailure::Incompatible => "incompatible",
            HandshakeFailure::NoCertificate => "no_certificate",
            HandshakeFailure::NoClientCertificate => "no_client_certificate",
            HandshakeFailure::BadClientCertificate => "bad_client_certificate",
            HandshakeFailure::Other => "other",
        }
    }

    /// The reason behind a failed handshake's error.
    pub fn of(error: &std::io::Error) -> Self {
        use rustls::Error;
        use std::io::ErrorKind;
        if let Some(tls) = error.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
            return match tls {
                Error::NoCertificatesPresented => HandshakeFailure::NoClientCertificate,
                Error::InvalidCertificate(_) => HandshakeFailure::BadClientCertificate,
                Error::PeerIncompatible(_) => HandshakeFailure::Incompatible,
                Error::AlertReceived(_) => HandshakeFailure::ClientAlert,
                Error::InvalidMessage(_)
                | Error::InappropriateMessage { .. }
                | Error::InappropriateHandshakeMessage { .. }
                | Error::PeerMisbehaved(_)
                | Error::DecryptError => HandshakeFailure::Malformed,
                Error::General(why) if why.contains("no server certificate") => {
                    HandshakeFailure::NoCertificate
                }
                _ => HandshakeFailure::Other,
            };
        }
        match error.kind() {
            ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe => HandshakeFailure::Closed,
            ErrorKind::InvalidData => HandshakeFailure::Malformed,
            _ => HandshakeFailure::Other,
        }
    }
}
