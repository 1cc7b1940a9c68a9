//! TLS 1.3 configuration with self-signed certificates on both ends.
//!
//! Certificates are not checked against any authority: identity is the certificate's
//! fingerprint, which the hub pins for clients and clients pin for the hub. The
//! verifiers below still check the handshake signature, so a peer must hold the private
//! key of the certificate it shows.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::identity::{Identity, fingerprint};
use crate::proto::ClientId;

/// The RFC 9266 exporter label for TLS 1.3 channel binding.
const CHANNEL_BINDING_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// Errors building a TLS configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// rustls refused the configuration (for example a key that does not match).
    #[error("TLS configuration")]
    Config(#[from] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[derive(Debug)]
struct SelfSigned {
    algorithms: WebPkiSupportedAlgorithms,
    /// For direct transfer links: the only certificate accepted, checked during the
    /// handshake so that a stranger gets no further than TLS.
    pin: Option<ClientId>,
}

impl SelfSigned {
    fn new() -> Self {
        Self {
            algorithms: provider().signature_verification_algorithms,
            pin: None,
        }
    }

    fn pinned(peer: ClientId) -> Self {
        Self {
            pin: Some(peer),
            ..Self::new()
        }
    }

    fn check_pin(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        match self.pin {
            Some(pin) if fingerprint(cert) != pin => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
            _ => Ok(()),
        }
    }

    fn verify13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
}

impl ServerCertVerifier for SelfSigned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Trust is the pinned fingerprint: the hub's is checked by the caller after the
        // handshake, a transfer peer's right here.
        self.check_pin(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for SelfSigned {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // The client's id is its fingerprint; possession is proven by the signature below.
        self.check_pin(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The hub side: TLS 1.3 only, a client certificate required.
///
/// # Errors
/// If rustls rejects the identity.
pub fn server_config(identity: &Identity) -> Result<Arc<rustls::ServerConfig>, Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(SelfSigned::new()))
        .with_single_cert(vec![identity.cert().clone()], identity.key())?;
    // Keep per-connection memory small: no session tickets, nothing cached per client.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(Arc::new(config))
}

/// The client side: TLS 1.3 only, presenting `identity` as a client certificate.
///
/// # Errors
/// If rustls rejects the identity.
pub fn client_config(identity: &Identity) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SelfSigned::new()))
        .with_client_auth_cert(vec![identity.cert().clone()], identity.key())?;
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// A direct transfer link, listening side: TLS 1.3, and only `peer`'s certificate gets
/// through the handshake.
///
/// # Errors
/// If rustls rejects the identity.
pub fn pinned_server_config(
    identity: &Identity,
    peer: ClientId,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(SelfSigned::pinned(peer)))
        .with_single_cert(vec![identity.cert().clone()], identity.key())?;
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(Arc::new(config))
}

/// A direct transfer link, connecting side: TLS 1.3, the server must be `peer`.
///
/// # Errors
/// If rustls rejects the identity.
pub fn pinned_client_config(
    identity: &Identity,
    peer: ClientId,
) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SelfSigned::pinned(peer)))
        .with_client_auth_cert(vec![identity.cert().clone()], identity.key())?;
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// The server name clients put in the handshake (certificates are not name-checked).
pub fn server_name() -> ServerName<'static> {
    ServerName::DnsName(
        rustls::pki_types::DnsName::try_from("courier")
            .unwrap_or_else(|_| unreachable!("\"courier\" is a valid DNS name")),
    )
}

/// The fingerprint of the peer's certificate, once the handshake is done.
pub fn peer_id(conn: &rustls::CommonState) -> Option<ClientId> {
    conn.peer_certificates()
        .and_then(|c| c.first())
        .map(|c| fingerprint(c))
}

/// The RFC 9266 `tls-exporter` channel binding of a finished TLS 1.3 connection.
pub fn channel_binding<D>(conn: &rustls::ConnectionCommon<D>) -> Option<[u8; 32]> {
    conn.export_keying_material([0u8; 32], CHANNEL_BINDING_LABEL, None)
        .ok()
}
