//! A real HTTP/1.1 server on 127.0.0.1 for webhook tests: it records every
//! request body and answers with a status chosen by the test.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

pub struct HookServer {
    pub addr: SocketAddr,
    bodies: mpsc::Receiver<String>,
}

impl HookServer {
    /// Serves until the test ends, answering every request with `status`.
    pub fn start(status: u16) -> HookServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let (tx, bodies) = mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let tx = tx.clone();
                thread::spawn(move || serve(stream, status, tx));
            }
        });
        HookServer { addr, bodies }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The next request body, waiting at most `limit`.
    pub fn next_body(&self, limit: Duration) -> Option<String> {
        self.bodies.recv_timeout(limit).ok()
    }
}

fn serve(stream: std::net::TcpStream, status: u16, tx: mpsc::Sender<String>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
    let mut stream = stream;
    let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

/// A server that accepts connections, reads the request and never
/// answers: a webhook receiver that hangs. Counts requests received.
pub struct HangServer {
    pub addr: SocketAddr,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HangServer {
    pub fn start() -> HangServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = requests.clone();
        thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                let mut line = String::new();
                let _ = BufReader::new(&stream).read_line(&mut line);
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Kept open and unanswered until the test ends.
                held.push(stream);
            }
        });
        HangServer { addr, requests }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Requests that arrived (and were never answered).
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A listener that never accepts, its queue already full (`listen(0)`
/// holding one unaccepted connection): a new connection's SYN is dropped,
/// so a client hangs in connect as with a dead host. Python holds the
/// socket (std gives no say over the backlog); stopped on drop.
pub struct FullBacklogServer {
    pub addr: SocketAddr,
    server: std::process::Child,
    /// The connections that filled the queue.
    _fillers: Vec<std::net::TcpStream>,
}

impl FullBacklogServer {
    pub fn start() -> FullBacklogServer {
        let script = "import socket, sys\n\
                      s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)\n\
                      print(s.getsockname()[1], flush=True)\n\
                      sys.stdin.read()\n";
        let mut server = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 is needed for the full-backlog listener");
        let mut line = String::new();
        BufReader::new(server.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("read the port");
        let addr: SocketAddr = format!("127.0.0.1:{}", line.trim()).parse().expect("a port");
        let mut fillers = Vec::new();
        // Connect until one hangs: the queue is full from then on.
        while let Ok(stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            fillers.push(stream);
            assert!(fillers.len() < 16, "the accept queue of a listen(0) socket never filled");
        }
        FullBacklogServer { addr, server, _fillers: fillers }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Whether some socket on this host is stuck connecting to the server
    /// (state SYN_SENT in /proc/net/tcp).
    pub fn has_hanging_client(&self) -> bool {
        let remote = format!(":{:04X}", self.addr.port());
        let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        tcp.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[2].ends_with(&remote) && fields[3] == "02"
        })
    }
}

impl Drop for FullBacklogServer {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
