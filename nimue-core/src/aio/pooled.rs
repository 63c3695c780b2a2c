//! A pooled connection is an [`AsyncConnection`] when the adapter's connection is one: a
//! checkout from [`Pool::get_async`](crate::Pool::get_async) is then used from async code
//! without a thread hop, and goes back to the pool as any checkout does.

use super::connection::{AsyncConnect, AsyncConnection};
use crate::connection::Connect;
use crate::error::Result;
use crate::pool::{Pool, PooledConnection};
use std::future::Future;

impl<K> AsyncConnection for PooledConnection<K>
where
    K: Connect,
    K::Connection: AsyncConnection,
{
    type Cursor<'c>
        = <K::Connection as AsyncConnection>::Cursor<'c>
    where
        Self: 'c;

    fn cursor(&mut self) -> impl Future<Output = Result<Self::Cursor<'_>>> + Send {
        AsyncConnection::cursor(&mut **self)
    }

    fn commit(&mut self) -> impl Future<Output = Result<()>> + Send {
        AsyncConnection::commit(&mut **self)
    }

    fn rollback(&mut self) -> impl Future<Output = Result<()>> + Send {
        AsyncConnection::rollback(&mut **self)
    }

    fn rollback_later(&mut self) {
        AsyncConnection::rollback_later(&mut **self)
    }

    fn autocommit(&self) -> bool {
        AsyncConnection::autocommit(&**self)
    }

    fn set_autocommit(&mut self, on: bool) -> impl Future<Output = Result<()>> + Send {
        AsyncConnection::set_autocommit(&mut **self, on)
    }
}

/// A pool is a source of async connections: `connect` is [`Pool::get_async`] (a checkout,
/// given back when dropped), so code written against [`AsyncConnect`] takes a pool as it
/// takes a connector.
impl<K> AsyncConnect for Pool<K>
where
    K: Connect,
    K::Connection: AsyncConnection,
{
    type Connection = PooledConnection<K>;

    fn connect(&self) -> impl Future<Output = Result<PooledConnection<K>>> + Send {
        self.get_async()
    }
}
