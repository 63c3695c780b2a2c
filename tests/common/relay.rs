//! A TCP relay on 127.0.0.1 in front of a test server that holds the client's socket open
//! after the server has closed its side: what a client sees when the server's last message
//! has arrived and its FIN has not yet (a race in real life, made certain here).

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// Relays every connection accepted on [`port`](Self::port) to `server`, until dropped.
pub struct HoldOpenRelay {
    port: u16,
    /// Client sockets whose server side has ended, kept open until the relay is dropped.
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl HoldOpenRelay {
    /// A relay to `server` (`host:port`, on loopback).
    pub fn start(server: &str) -> HoldOpenRelay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let server = server.to_owned();
        let keep = Arc::clone(&held);
        // Ends with the test binary: a test accepts a handful of connections.
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(upstream) = TcpStream::connect(&server) else {
                    return;
                };
                relay(client, upstream, Arc::clone(&keep));
            }
        });
        HoldOpenRelay { port, held }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for HoldOpenRelay {
    fn drop(&mut self) {
        for client in self.held.lock().unwrap().drain(..) {
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}

/// Copy both ways; when the server ends its side, the client's socket is held, not shut.
fn relay(client: TcpStream, upstream: TcpStream, held: Arc<Mutex<Vec<TcpStream>>>) {
    let (mut client_in, mut upstream_out) =
        (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    thread::spawn(move || {
        let _ = io::copy(&mut client_in, &mut upstream_out);
        let _ = upstream_out.shutdown(Shutdown::Write);
    });
    let (mut upstream_in, mut client_out) = (upstream, client);
    thread::spawn(move || {
        let _ = io::copy(&mut upstream_in, &mut client_out);
        held.lock().unwrap().push(client_out);
    });
}
