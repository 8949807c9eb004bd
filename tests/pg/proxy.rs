//! A TCP proxy between the tests' client and the server, to count round
//! trips and to break connections on purpose.
//!
//! A round trip is a flight of bytes from the client answered by the
//! server: the proxy counts a new one each time the client sends after the
//! server has sent (or for the first time). Pipelined statements sent
//! together are one flight. The counting and the cuts are for one
//! connection at a time (a pool of one): the proxy notes when two overlap,
//! and the tests check it did not happen.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
pub struct Counters {
    /// Client flights so far, over every connection.
    flights: AtomicU64,
    /// Whether the server spoke last.
    server_spoke: AtomicBool,
    /// Break the connection when the client starts this flight (0: never;
    /// once).
    cut_at: AtomicU64,
    /// Forward this flight to the server, then break the connection before
    /// its answer reaches the client (0: never; once).
    cut_after: AtomicU64,
    /// Connections open now.
    open: AtomicU64,
    /// Whether two connections were ever open at once.
    overlapped: AtomicBool,
}

pub struct Proxy {
    pub port: u16,
    pub counters: Arc<Counters>,
}

impl Proxy {
    /// A proxy to the server on `target`, on a free port.
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the proxy");
        let port = listener.local_addr().expect("its address").port();
        let counters = Arc::new(Counters {
            server_spoke: AtomicBool::new(true),
            ..Counters::default()
        });
        let shared = counters.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counters = shared.clone();
                if counters.open.fetch_add(1, Ordering::SeqCst) > 0 {
                    counters.overlapped.store(true, Ordering::SeqCst);
                }
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await {
                        pipe(client, server, counters.clone()).await;
                    }
                    counters.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { port, counters }
    }

    /// The connection string of `db` through the proxy.
    pub fn url(&self, db: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={db}", self.port)
    }

    /// Round trips so far.
    pub fn round_trips(&self) -> u64 {
        self.counters.flights.load(Ordering::SeqCst)
    }

    /// Whether the counts can be trusted: no two connections were open at
    /// once, and no cut is still waiting for its round trip.
    pub fn settled(&self) -> bool {
        !self.counters.overlapped.load(Ordering::SeqCst)
            && self.counters.cut_at.load(Ordering::SeqCst) == 0
            && self.counters.cut_after.load(Ordering::SeqCst) == 0
    }

    /// Breaks the connection when the client starts round trip `n` from
    /// now (1: the next): the server never sees it.
    pub fn cut_before(&self, n: u64) {
        self.counters
            .cut_at
            .store(self.round_trips() + n, Ordering::SeqCst);
    }

    /// Lets round trip `n` from now reach the server, and breaks the
    /// connection before its answer reaches the client.
    pub fn cut_after(&self, n: u64) {
        self.counters
            .cut_after
            .store(self.round_trips() + n, Ordering::SeqCst);
    }
}

async fn pipe(client: TcpStream, server: TcpStream, counters: Arc<Counters>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up_counters = counters.clone();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if up_counters.server_spoke.swap(false, Ordering::SeqCst) {
                let flight = up_counters.flights.fetch_add(1, Ordering::SeqCst) + 1;
                if up_counters
                    .cut_at
                    .compare_exchange(flight, 0, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    up_counters.server_spoke.store(true, Ordering::SeqCst);
                    return;
                }
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let flight = counters.flights.load(Ordering::SeqCst);
            if flight > 0
                && counters
                    .cut_after
                    .compare_exchange(flight, 0, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                counters.server_spoke.store(true, Ordering::SeqCst);
                return;
            }
            counters.server_spoke.store(true, Ordering::SeqCst);
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    // Either side closing, or a cut, ends the connection both ways.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}
