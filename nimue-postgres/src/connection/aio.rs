//! [`PgConnection`]'s async DB-API: the same statements (the cursor's `AsyncRowStream`), awaited
//! on the caller's task.

use super::PgConnection;
use crate::cursor::PgStream;
use nimue_core::aio::{AsyncConnection, AsyncStreamingCursor};
use nimue_core::{Error, Liveness, PoolHooks, Result};

impl PgConnection {
    /// [`PoolHooks::check`](nimue_core::PoolHooks::check), awaited: the same ladder.
    pub(crate) async fn check_awaited(&mut self, level: Liveness) -> Result<()> {
        if PoolHooks::is_broken(self) {
            return Err(Error::operational("the connection is broken"));
        }
        match level {
            Liveness::Flag => Ok(()),
            Liveness::Ping => self.ping_async().await,
            // `Query`, and any level added later: the most thorough there is.
            _ => {
                let _: i64 = AsyncConnection::query_scalar(self, "SELECT 1", ()).await?;
                if AsyncConnection::autocommit(self) {
                    Ok(())
                } else {
                    AsyncConnection::rollback(self).await
                }
            }
        }
    }

    /// The error for async code on a connection opened for synchronous use.
    fn check_async(&self) -> Result<()> {
        if !self.client.owns_runtime() {
            return Ok(());
        }
        Err(Error::interface(
            "this PostgreSQL connection was opened for synchronous use (its socket is served by \
             a runtime of its own, which async code cannot wait on): open it with \
             AsyncConnect::connect, or give the connector the runtime \
             (PgConnector::runtime(tokio::runtime::Handle::current())) to pool it for async code",
        ))
    }
}

/// The same connection from async code: every call is awaited on the caller's task, which
/// drives the socket while it waits (no task or thread of its own, no channel in between).
/// The connection must have been opened on a tokio runtime ([`AsyncConnect`](nimue_core::aio::AsyncConnect) for
/// [`PgConnector`](crate::PgConnector), or [`PgConnector::runtime`](crate::PgConnector::runtime)).
impl AsyncConnection for PgConnection {
    type Cursor<'c> = AsyncStreamingCursor<PgStream<'c>>;

    async fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        self.check_async()?;
        Ok(AsyncStreamingCursor::new(PgStream::new(
            &mut self.client,
            &mut self.session,
        )))
    }

    async fn commit(&mut self) -> Result<()> {
        self.check_async()?;
        self.end_transaction("COMMIT").await
    }

    async fn rollback(&mut self) -> Result<()> {
        self.check_async()?;
        self.end_transaction("ROLLBACK").await
    }

    /// The `ROLLBACK` is sent without waiting (the reply is read before the next one's).
    fn rollback_later(&mut self) {
        if !self.session.in_transaction || self.client.owns_runtime() {
            return;
        }
        let (client, link) = self.client.parts();
        link.send(client.batch_execute("ROLLBACK"));
        self.session.in_transaction = false;
        self.session.wrote = false;
    }

    fn autocommit(&self) -> bool {
        self.session.autocommit
    }

    async fn set_autocommit(&mut self, on: bool) -> Result<()> {
        self.session.set_autocommit(on)
    }
}
