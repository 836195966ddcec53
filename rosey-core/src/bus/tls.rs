//! TLS for the bus when `nats.tls` is set: the server presents the operator's certificate, and
//! the daemon's own clients accept exactly that certificate (pinned), whatever name or address
//! they connect by (`nats.host` may be `0.0.0.0`, which no certificate names).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use tokio_rustls::rustls::{
    self,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{
        pem::{self, PemObject},
        CertificateDer, ServerName, UnixTime,
    },
    DigitallySignedStruct, SignatureScheme,
};

/// Accepts the one certificate it was given, and checks the handshake was signed by its key.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the NATS server's certificate is not the one in nats.tls.cert".to_owned(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why `nats.tls`'s certificate cannot be used by the daemon's clients.
#[derive(Debug, thiserror::Error)]
pub(super) enum CertError {
    /// The file is unreadable, or holds no PEM certificate.
    #[error("cannot read the certificate {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: pem::Error,
    },
    /// rustls refused its own default protocol versions.
    #[error(transparent)]
    Protocols(#[from] rustls::Error),
}

/// Reads the first certificate of PEM file `path`.
pub(super) fn read_cert(path: &Path) -> Result<Vec<u8>, CertError> {
    CertificateDer::from_pem_file(path)
        .map(|cert| cert.as_ref().to_vec())
        .map_err(|source| CertError::Read {
            path: path.to_owned(),
            source,
        })
}

/// A client config that trusts only `cert` (DER).
pub(super) fn pinned_client_config(cert: &[u8]) -> Result<rustls::ClientConfig, CertError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Pinned {
        cert: CertificateDer::from(cert.to_vec()),
        provider: provider.clone(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A verifier pinned to `cert`.
    fn pinned(cert: &[u8]) -> Pinned {
        Pinned {
            cert: CertificateDer::from(cert.to_vec()),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }

    /// What `verifier` says of a server called `name` presenting `cert`.
    fn verify(
        verifier: &Pinned,
        name: &'static str,
        cert: &[u8],
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = ServerName::try_from(name).expect("a server name");
        verifier.verify_server_cert(
            &CertificateDer::from(cert.to_vec()),
            &[],
            &name,
            &[],
            UnixTime::now(),
        )
    }

    #[test]
    fn only_the_pinned_certificate_is_accepted_whatever_the_name() {
        let verifier = pinned(b"the operator's certificate");
        for name in ["localhost", "192.0.2.7", "nats.example.org"] {
            assert!(
                verify(&verifier, name, b"the operator's certificate").is_ok(),
                "{name}"
            );
            assert_eq!(
                verify(&verifier, name, b"another certificate").expect_err("not pinned"),
                rustls::Error::General(
                    "the NATS server's certificate is not the one in nats.tls.cert".to_owned()
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn a_file_without_a_certificate_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nats.pem");
        std::fs::write(&path, "no PEM here\n").expect("write");
        let err = read_cert(&path).expect_err("no certificate");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read the certificate {}: ", path.display())),
            "{err}"
        );
    }
}
