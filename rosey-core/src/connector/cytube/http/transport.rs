//! The stream under an HTTP request or a WebSocket: plain TCP, or TLS (rustls with the
//! system's root certificates) for `https`/`wss`.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use url::Url;

use super::HttpError;
#[cfg(feature = "tls")]
use super::TlsSetupError;

/// A plain or TLS connection.
#[derive(Debug)]
pub enum Transport {
    /// `http://`, `ws://`.
    Plain(TcpStream),
    /// `https://`, `wss://`.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_flush(cx),
            #[cfg(feature = "tls")]
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Whether `scheme` needs TLS.
fn secure(scheme: &str) -> bool {
    matches!(scheme, "https" | "wss")
}

/// Opens a connection to `url`'s host and port, with TLS for `https`/`wss`.
pub async fn open(url: &Url) -> Result<Transport, HttpError> {
    let host = url
        .host_str()
        .ok_or_else(|| HttpError::NoHost { url: url.clone() })?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| HttpError::NoPort { url: url.clone() })?;
    let host_for_socket = host.trim_start_matches('[').trim_end_matches(']');
    let stream = TcpStream::connect((host_for_socket, port))
        .await
        .map_err(|source| HttpError::Connect {
            host: host.to_owned(),
            port,
            source,
        })?;
    let _ = stream.set_nodelay(true);
    if !secure(url.scheme()) {
        return Ok(Transport::Plain(stream));
    }
    #[cfg(feature = "tls")]
    {
        let name =
            tokio_rustls::rustls::pki_types::ServerName::try_from(host_for_socket.to_owned())
                .map_err(|source| HttpError::ServerName {
                    host: host.to_owned(),
                    source,
                })?;
        let stream = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, stream)
            .await
            .map_err(|source| HttpError::Tls {
                host: host.to_owned(),
                port,
                source,
            })?;
        Ok(Transport::Tls(Box::new(stream)))
    }
    #[cfg(not(feature = "tls"))]
    Err(HttpError::TlsNotBuilt { url: url.clone() })
}

#[cfg(feature = "tls")]
pub(super) fn tls_config(
) -> Result<std::sync::Arc<tokio_rustls::rustls::ClientConfig>, TlsSetupError> {
    use std::sync::{Arc, OnceLock};
    use tokio_rustls::rustls;
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, TlsSetupError>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(TlsSetupError::NoRootCertificates);
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(TlsSetupError::Protocols)?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}
