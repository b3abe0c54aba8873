//! Syslog forwarding throughput (tests/bench/syslog runs it): N log lines through a ring
//! to a TCP syslog server on loopback, by the daemon's forwarding code.
//!
//!     syslog_bench [--server HOST:PORT] [--lines N] [--bytes B]
//!
//! Without `--server`, a plain reader in this process takes the octet-counted frames
//! (the figure then is the forwarding's own, not a syslog server's). Prints one JSON line.

use std::io::{BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::time::Instant;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Count frames (`LEN SP MSG`) until `lines`; the instant the last came.
fn reader(listener: TcpListener, lines: usize) -> Instant {
    let (s, _) = listener.accept().expect("the forwarder connects");
    let mut r = BufReader::with_capacity(1 << 20, s);
    let mut n = 0;
    let mut byte = [0u8; 1];
    while n < lines {
        let mut len = 0usize;
        loop {
            r.read_exact(&mut byte).expect("a frame");
            if byte[0] == b' ' {
                break;
            }
            len = len * 10 + usize::from(byte[0] - b'0');
        }
        let mut msg = vec![0u8; len];
        r.read_exact(&mut msg).expect("a message");
        if msg.windows(10).any(|w| w == b"bench line") {
            n += 1;
        }
    }
    Instant::now()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let lines: usize = arg(&args, "--lines").map_or(200_000, |v| v.parse().unwrap());
    let bytes: usize = arg(&args, "--bytes").map_or(120, |v| v.parse().unwrap());
    let dir = std::env::temp_dir().join(format!("syslog-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, local): (SocketAddr, _) = match arg(&args, "--server") {
        Some(s) => (s.parse().expect("--server HOST:PORT"), None),
        None => {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            (addr, Some(std::thread::spawn(move || reader(l, lines))))
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let f = rt
        .block_on(appliance_daemon::logs::forward::bench::tcp(
            server,
            &dir,
            lines,
            bytes,
            1 << 30,
        ))
        .expect("the run");
    let received = local.map(|h| h.join().unwrap().duration_since(started).as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{{\"lines\":{},\"dropped\":{},\"ring_seconds\":{:.3},\"sent_seconds\":{:.3},\"sent_per_second\":{:.0},\"started_unix\":{started_unix:.3},\"reader_seconds\":{}}}",
        f.lines,
        f.dropped,
        f.ring_seconds,
        f.seconds,
        f.lines as f64 / f.seconds,
        received.map_or("null".to_string(), |s| format!("{s:.3}")),
    );
}
