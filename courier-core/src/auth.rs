//! Password login with OPAQUE (an augmented PAKE), bound to the TLS connection.
//!
//! The hub registers its password with itself once and stores only the OPAQUE
//! registration record ([`HubSecret`]): no password, and nothing that can log in in its
//! place. A login is OPAQUE's three messages followed by a channel-binding check: each
//! side sends `HMAC(session_key, role ‖ tls-exporter)`. A man in the middle who relays
//! the OPAQUE messages between two TLS connections has different exporters on each side,
//! so the binding fails on both ends, and the password never crosses the wire.

use std::fmt;

use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration,
    ClientRegistrationFinishParameters, CredentialFinalization, CredentialRequest,
    CredentialResponse, RegistrationResponse, RegistrationUpload, ServerLogin,
    ServerLoginStartParameters, ServerRegistration, ServerSetup,
};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// The OPAQUE cipher suite: ristretto255, triple Diffie-Hellman, Argon2id stretching.
struct Suite;

impl opaque_ke::CipherSuite for Suite {
    type OprfCs = opaque_ke::Ristretto255;
    type KeGroup = opaque_ke::Ristretto255;
    type KeyExchange = opaque_ke::key_exchange::tripledh::TripleDh;
    #[cfg(not(fuzzing))]
    type Ksf = argon2::Argon2<'static>;
    /// Fuzz builds only (cargo-fuzz sets `--cfg fuzzing`): skip the deliberate slowness so
    /// the fuzzer can log in thousands of times a second.
    #[cfg(fuzzing)]
    type Ksf = opaque_ke::ksf::Identity;
}

/// One hub has one password, so every client logs in as this credential.
const CREDENTIAL_ID: &[u8] = b"courier-hub";
const CLIENT_ROLE: &[u8] = b"courier client binding";
const HUB_ROLE: &[u8] = b"courier hub binding";

/// Errors of the login exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The password is empty.
    #[error("the password is empty")]
    EmptyPassword,
    /// The password does not open the hub's answer.
    #[error("wrong password")]
    WrongPassword,
    /// A login message is not well-formed.
    #[error("malformed login message")]
    Malformed,
    /// The stored hub secret is damaged.
    #[error("the stored hub password record is damaged")]
    DamagedSecret,
    /// OPAQUE failed internally.
    #[error("login protocol failure: {0}")]
    Protocol(String),
}

fn protocol(e: opaque_ke::errors::ProtocolError) -> Error {
    match e {
        opaque_ke::errors::ProtocolError::InvalidLoginError => Error::WrongPassword,
        opaque_ke::errors::ProtocolError::SerializationError
        | opaque_ke::errors::ProtocolError::IdentityGroupElementError
        | opaque_ke::errors::ProtocolError::ReflectedValueError => Error::Malformed,
        other => Error::Protocol(format!("{other:?}")),
    }
}

/// A password held in memory; its `Debug` form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The password text, for code that must hand it on (tests, the simulator).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// The shared key an OPAQUE login produced.
pub(crate) struct SessionKey(Vec<u8>);

impl SessionKey {
    fn mac(&self, role: &[u8], binding: &[u8; 32]) -> ring::hmac::Tag {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let mut ctx = ring::hmac::Context::with_key(&key);
        ctx.update(role);
        ctx.update(binding);
        ctx.sign()
    }

    fn verify(&self, role: &[u8], binding: &[u8; 32], tag: &[u8]) -> bool {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let mut msg = role.to_vec();
        msg.extend_from_slice(binding);
        ring::hmac::verify(&key, &msg, tag).is_ok()
    }

    /// The client's proof that it sees this TLS connection.
    pub(crate) fn client_binding(&self, channel: &[u8; 32]) -> Vec<u8> {
        self.mac(CLIENT_ROLE, channel).as_ref().to_vec()
    }

    /// The hub's proof that it sees this TLS connection.
    pub(crate) fn hub_binding(&self, channel: &[u8; 32]) -> Vec<u8> {
        self.mac(HUB_ROLE, channel).as_ref().to_vec()
    }

    /// Checks the client's proof, in constant time.
    pub(crate) fn check_client_binding(&self, channel: &[u8; 32], tag: &[u8]) -> bool {
        self.verify(CLIENT_ROLE, channel, tag)
    }

    /// Checks the hub's proof, in constant time.
    pub(crate) fn check_hub_binding(&self, channel: &[u8; 32], tag: &[u8]) -> bool {
        self.verify(HUB_ROLE, channel, tag)
    }
}

/// What the hub stores instead of its password: the OPAQUE server setup and the
/// registration record of the password.
#[derive(Clone)]
pub struct HubSecret {
    setup: ServerSetup<Suite>,
    record: ServerRegistration<Suite>,
}

impl fmt::Debug for HubSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HubSecret(..)")
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretFile {
    setup: ByteBuf,
    record: ByteBuf,
}

impl HubSecret {
    /// Registers `password`: runs both halves of OPAQUE registration locally.
    ///
    /// # Errors
    /// If the password is empty.
    pub fn register<R: RngCore + CryptoRng>(
        rng: &mut R,
        password: &Password,
    ) -> Result<Self, Error> {
        if password.bytes().is_empty() {
            return Err(Error::EmptyPassword);
        }
        let setup = ServerSetup::<Suite>::new(rng);
        let start = ClientRegistration::<Suite>::start(rng, password.bytes()).map_err(protocol)?;
        let request_bytes = start.message.serialize();
        let request =
            opaque_ke::RegistrationRequest::deserialize(&request_bytes).map_err(protocol)?;
        let response =
            ServerRegistration::<Suite>::start(&setup, request, CREDENTIAL_ID).map_err(protocol)?;
        let response =
            RegistrationResponse::deserialize(&response.message.serialize()).map_err(protocol)?;
        let finish = start
            .state
            .finish(
                rng,
                password.bytes(),
                response,
                ClientRegistrationFinishParameters::default(),
            )
            .map_err(protocol)?;
        let upload = RegistrationUpload::<Suite>::deserialize(&finish.message.serialize())
            .map_err(protocol)?;
        Ok(Self {
            setup,
            record: ServerRegistration::finish(upload),
        })
    }

    /// Serializes for storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::proto::encode(&SecretFile {
            setup: ByteBuf::from(self.setup.serialize().to_vec()),
            record: ByteBuf::from(self.record.serialize().to_vec()),
        })
    }

    /// Restores from [`HubSecret::to_bytes`].
    ///
    /// # Errors
    /// [`Error::DamagedSecret`] if the bytes are not a stored secret.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let stored: SecretFile =
            ciborium::de::from_reader(bytes).map_err(|_| Error::DamagedSecret)?;
        Ok(Self {
            setup: ServerSetup::deserialize(&stored.setup).map_err(|_| Error::DamagedSecret)?,
            record: ServerRegistration::deserialize(&stored.record)
                .map_err(|_| Error::DamagedSecret)?,
        })
    }

    /// Answers a client's `LoginStart`: returns the hub's state and the response bytes.
    pub(crate) fn start_login<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        request: &[u8],
    ) -> Result<(HubLogin, Vec<u8>), Error> {
        let request = CredentialRequest::<Suite>::deserialize(request).map_err(protocol)?;
        let start = ServerLogin::start(
            rng,
            &self.setup,
            Some(self.record.clone()),
            request,
            CREDENTIAL_ID,
            ServerLoginStartParameters::default(),
        )
        .map_err(protocol)?;
        Ok((
            HubLogin(Box::new(start.state)),
            start.message.serialize().to_vec(),
        ))
    }
}

/// The hub's half of a login in progress.
pub(crate) struct HubLogin(Box<ServerLogin<Suite>>);

impl fmt::Debug for HubLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HubLogin(..)")
    }
}

impl HubLogin {
    /// Checks the client's finalization; success proves it knows the password.
    pub(crate) fn finish(self, finalization: &[u8]) -> Result<SessionKey, Error> {
        let message =
            CredentialFinalization::<Suite>::deserialize(finalization).map_err(protocol)?;
        let result = self.0.finish(message).map_err(protocol)?;
        Ok(SessionKey(result.session_key.to_vec()))
    }
}

/// The client's half of a login in progress.
pub(crate) struct ClientLoginState(ClientLogin<Suite>);

impl fmt::Debug for ClientLoginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientLoginState(..)")
    }
}

impl ClientLoginState {
    /// Starts a login: the state and the `LoginStart` request bytes.
    pub(crate) fn start<R: RngCore + CryptoRng>(
        rng: &mut R,
        password: &Password,
    ) -> Result<(Self, Vec<u8>), Error> {
        let start = ClientLogin::<Suite>::start(rng, password.bytes()).map_err(protocol)?;
        Ok((Self(start.state), start.message.serialize().to_vec()))
    }

    /// Opens the hub's response with the password. This is where the Argon2 stretch runs.
    pub(crate) fn finish(
        self,
        password: &Password,
        response: &[u8],
    ) -> Result<(Vec<u8>, SessionKey), Error> {
        let response = CredentialResponse::<Suite>::deserialize(response).map_err(protocol)?;
        let result = self
            .0
            .finish(
                password.bytes(),
                response,
                ClientLoginFinishParameters::default(),
            )
            .map_err(protocol)?;
        Ok((
            result.message.serialize().to_vec(),
            SessionKey(result.session_key.to_vec()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    fn login(secret: &HubSecret, password: &str) -> Result<(SessionKey, SessionKey), Error> {
        let mut rng = rng();
        let (client, request) = ClientLoginState::start(&mut rng, &Password::new(password))?;
        let (hub, response) = secret.start_login(&mut rng, &request)?;
        let (fin, client_key) = client.finish(&Password::new(password), &response)?;
        Ok((client_key, hub.finish(&fin)?))
    }

    #[test]
    fn right_password_agrees_on_a_key_and_bindings_check() {
        let secret = HubSecret::register(&mut rng(), &Password::new("hunter2")).unwrap();
        let secret = HubSecret::from_bytes(&secret.to_bytes()).unwrap();
        let (c, h) = login(&secret, "hunter2").unwrap();
        let chan = [5u8; 32];
        assert!(h.check_client_binding(&chan, &c.client_binding(&chan)));
        assert!(c.check_hub_binding(&chan, &h.hub_binding(&chan)));
        // A relay between two TLS connections sees different exporters.
        assert!(!h.check_client_binding(&[6u8; 32], &c.client_binding(&chan)));
        // A client's proof is not a hub's proof.
        assert!(!c.check_hub_binding(&chan, &c.client_binding(&chan)));
    }

    #[test]
    fn wrong_password_is_detected_by_the_client() {
        let secret = HubSecret::register(&mut rng(), &Password::new("hunter2")).unwrap();
        assert_eq!(login(&secret, "hunter3").err(), Some(Error::WrongPassword));
    }

    #[test]
    fn malformed_messages_are_errors() {
        let secret = HubSecret::register(&mut rng(), &Password::new("pw")).unwrap();
        assert!(secret.start_login(&mut rng(), &[1, 2, 3]).is_err());
        assert!(secret.start_login(&mut rng(), &[0u8; 96]).is_err());
        assert!(HubSecret::from_bytes(b"junk").is_err());
        assert_eq!(
            HubSecret::register(&mut rng(), &Password::new("")).err(),
            Some(Error::EmptyPassword)
        );
    }
}
