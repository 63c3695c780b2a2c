//! Connecting so that the client reads the server through a [`Tap`]: libpq's TLS
//! negotiation (`sslmode`, `sslnegotiation`) done here, around the TLS connector given, with
//! the plaintext stream (the socket's, or the TLS session's) handed to the driver tapped.
//!
//! The driver is told to use "TLS" always, negotiated directly, so that it passes every
//! socket it opens (for each host it tries) to [`Negotiate`]; what `sslmode` asks for is done
//! here instead, as the driver's own `connect_tls` does it.

use crate::status::{Tap, TxStatus};
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_postgres::config::{SslMode, SslNegotiation};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::{Config, Socket};

type BoxError = Box<dyn StdError + Send + Sync>;

/// PostgreSQL's `SSLRequest`: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// The configuration the driver connects with: the given one, with the TLS negotiation left
/// to [`Negotiate`]. A host given only by address is named by it (the driver hands a socket
/// to a TLS connector only for a named host).
pub(crate) fn driver_config(config: &Config) -> Config {
    let mut driven = config.clone();
    driven
        .ssl_mode(SslMode::Require)
        .ssl_negotiation(SslNegotiation::Direct);
    if config.get_hosts().is_empty() {
        for addr in config.get_hostaddrs() {
            driven.host(addr.to_string());
        }
    }
    driven
}

/// A TLS connector (or none) that negotiates as `sslmode` says and taps what it returns.
pub(crate) struct Negotiate<T> {
    pub(crate) tls: Option<T>,
    pub(crate) mode: SslMode,
    pub(crate) negotiation: SslNegotiation,
    pub(crate) status: TxStatus,
}

impl<T> MakeTlsConnect<Socket> for Negotiate<T>
where
    T: MakeTlsConnect<Socket>,
    T::TlsConnect: Send + 'static,
    T::Stream: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    type Stream = Tap<Plain<T::Stream>>;
    type TlsConnect = NegotiateOne<T::TlsConnect>;
    type Error = BoxError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, BoxError> {
        let tls = match (&mut self.tls, self.mode) {
            (Some(tls), SslMode::Prefer | SslMode::Require) => {
                Some(tls.make_tls_connect(domain).map_err(Into::into)?)
            }
            _ => None,
        };
        Ok(NegotiateOne {
            tls,
            mode: self.mode,
            negotiation: self.negotiation,
            status: self.status.clone(),
        })
    }
}

/// [`Negotiate`] for one socket.
pub(crate) struct NegotiateOne<C> {
    tls: Option<C>,
    mode: SslMode,
    negotiation: SslNegotiation,
    status: TxStatus,
}

impl<C> TlsConnect<Socket> for NegotiateOne<C>
where
    C: TlsConnect<Socket> + Send + 'static,
    C::Future: Send,
{
    type Stream = Tap<Plain<C::Stream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Stream, BoxError>> + Send>>;

    fn connect(self, mut socket: Socket) -> Self::Future {
        Box::pin(async move {
            let status = self.status;
            let raw = |socket| Ok(Tap::new(Plain::Raw(socket), status.clone()));
            let Some(tls) = self.tls else {
                return match self.mode {
                    SslMode::Require => Err("sslmode=require, but no TLS is configured".into()),
                    _ => raw(socket),
                };
            };
            if self.negotiation == SslNegotiation::Postgres {
                socket.write_all(&SSL_REQUEST).await?;
                let mut answer = [0];
                socket.read_exact(&mut answer).await?;
                if answer[0] != b'S' {
                    return match self.mode {
                        SslMode::Require => Err("the server does not support TLS".into()),
                        _ => raw(socket),
                    };
                }
            }
            let stream = tls.connect(socket).await.map_err(Into::into)?;
            Ok(Tap::new(Plain::Tls(stream), status.clone()))
        })
    }
}

/// The socket, or the TLS session over it.
pub(crate) enum Plain<T> {
    Raw(Socket),
    Tls(T),
}

impl<T: AsyncRead + Unpin> AsyncRead for Plain<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Plain::Raw(s) => Pin::new(s).poll_read(cx, buf),
            Plain::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Plain<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Plain::Raw(s) => Pin::new(s).poll_write(cx, buf),
            Plain::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Plain::Raw(s) => Pin::new(s).poll_flush(cx),
            Plain::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Plain::Raw(s) => Pin::new(s).poll_shutdown(cx),
            Plain::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl<T: TlsStream + Unpin> TlsStream for Plain<T> {
    fn channel_binding(&self) -> ChannelBinding {
        match self {
            Plain::Raw(_) => ChannelBinding::none(),
            Plain::Tls(s) => s.channel_binding(),
        }
    }
}
