//! Servers that cannot be reached, simulated on 127.0.0.1 only: a closed port (connection
//! refused), a listener that accepts and never says a word (a hung server or proxy), and a
//! listener whose accept queue is full, so the kernel drops new SYNs (a black-holed host).
//! With the real PostgreSQL and MySQL drivers (and the PostgreSQL ODBC driver for the silent
//! server), `get()` fails with a typed error naming the
//! cause, within the pool's `connect_timeout` rather than the driver's much longer (or
//! missing) one, and the pool's books stay balanced.
//!
//! No duration is asserted beyond "returned at all before a minute": what is checked is the
//! error and the pool's state.

#![cfg(any(feature = "postgres", feature = "mysql", feature = "odbc"))]

mod common;

use nimue::{Connect, ErrorKind, Pool};
use socket2::{Domain, Socket, Type};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The pool's bound on one connection attempt in these tests.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

/// A port nothing listens on (it was free a moment ago).
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A server that accepts every connection and never sends a byte; dropping it closes them.
struct Silent {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (stop2, held2) = (Arc::clone(&stop), Arc::clone(&held));
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held2.lock().unwrap().push(stream),
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Silent { addr, stop, held }
    }

    /// How many connections it accepted.
    fn accepted(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Closing the sockets ends the driver calls the pool abandoned.
        self.held.lock().unwrap().clear();
    }
}

/// A listener that never accepts, with its accept queue already full: Linux drops further
/// SYNs, so a connect hangs in SYN retransmission like a connect to a black-holed host.
struct Blackhole {
    addr: SocketAddr,
    _listener: Socket,
    _fillers: Vec<TcpStream>,
}

impl Blackhole {
    fn start() -> Blackhole {
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        // Fill the queue (a backlog of 0 still admits one or two): connects that complete go
        // in it; the first one that does not complete within a moment shows it is full.
        let mut fillers = Vec::new();
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(stream) => fillers.push(stream),
                Err(_) => break,
            }
            assert!(fillers.len() < 64, "the accept queue never filled");
        }
        Blackhole {
            addr,
            _listener: listener,
            _fillers: fillers,
        }
    }
}

/// `get()` on a pool of `connector` fails with an operational error whose text contains one of
/// `causes`; nothing is left counted.
fn fails_with<K: Connect>(connector: K, causes: &[&str]) -> String {
    let pool = Pool::builder(connector)
        .min_idle(0)
        .max_size(2)
        .connect_timeout(Some(CONNECT_TIMEOUT))
        .connection_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = pool.get().map(drop).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "returned at all"
    );
    let text = format!("{err}");
    assert_eq!(err.kind(), ErrorKind::Operational, "{text}");
    assert!(
        causes.iter().any(|cause| text.contains(cause)),
        "{text} names one of {causes:?}"
    );
    // A retry the checker started for the waiter may still be running: it ends within
    // connect_timeout and frees its slot.
    let deadline = Instant::now() + Duration::from_secs(60);
    let state = loop {
        let state = pool.state();
        if state.total == 0 || Instant::now() > deadline {
            break state;
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        (state.total, state.in_use, state.waiting),
        (0, 0, 0),
        "{state:?}"
    );
    assert!(state.timeouts >= 1, "{state:?}");
    pool.close();
    text
}

/// The three cases for one driver, given its `connector(addr)`.
macro_rules! unreachable_tests {
    () => {
        #[test]
        fn refused() {
            fails_with(connector(closed_port()), &["refused"]);
        }

        #[test]
        fn accepted_and_never_answered() {
            let server = Silent::start();
            fails_with(connector(server.addr), &["connect_timeout"]);
            assert!(server.accepted() >= 1, "the driver really connected");
        }

        #[test]
        fn black_holed() {
            let server = Blackhole::start();
            fails_with(connector(server.addr), &["connect_timeout"]);
        }
    };
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use nimue::postgres::PgConnector;

    fn connector(addr: SocketAddr) -> PgConnector {
        let url = format!("postgres://nimue:not-a-secret@{addr}/nimue?connect_timeout=60");
        PgConnector::from_url(&url).unwrap()
    }

    unreachable_tests!();
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::*;
    use nimue::mysql::MySqlConnector;

    fn connector(addr: SocketAddr) -> MySqlConnector {
        let url = format!("mysql://nimue:not-a-secret@{addr}/nimue?tcp_connect_timeout_ms=60000");
        MySqlConnector::from_url(&url).unwrap()
    }

    unreachable_tests!();
}

#[cfg(feature = "odbc")]
mod odbc {
    use super::*;
    use nimue::odbc::OdbcConnector;

    /// The PostgreSQL ODBC driver, pointed at a server that accepts and never answers, with
    /// no login timeout of its own: only the pool's connect_timeout ends the wait.
    #[test]
    fn accepted_and_never_answered() {
        let Some(conn_str) = common::server_env("NIMUE_TEST_ODBC_POSTGRES") else {
            return;
        };
        let server = Silent::start();
        let port = format!("Port={};", server.addr.port());
        let conn_str: String = conn_str
            .split_inclusive(';')
            .map(|part| {
                if part.starts_with("Port=") {
                    port.as_str()
                } else {
                    part
                }
            })
            .collect();
        assert!(conn_str.contains(&port), "{conn_str}");
        let connector = OdbcConnector::new(conn_str).login_timeout(None);
        fails_with(connector, &["connect_timeout"]);
        assert!(server.accepted() >= 1, "the driver really connected");
    }
}
