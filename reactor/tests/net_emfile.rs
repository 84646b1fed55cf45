//! `TcpListener::accept_with_backoff` when the process is out of file descriptors.
//!
//! One test only: it lowers `RLIMIT_NOFILE` for the whole process, which is why it has its
//! own test binary.

mod net_support;

use std::fs::File;
use std::io::{self as stdio, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use net_support::{wait_until, Env};
use tern_reactor::net::TcpListener;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Counts `WARN` events from the accept back-off (message mentioning "out of resources").
struct WarnCounter(Arc<AtomicUsize>);

struct MessageVisitor(bool);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && format!("{value:?}").contains("out of resources") {
            self.0 = true;
        }
    }
}

impl Subscriber for WarnCounter {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if *event.metadata().level() == Level::WARN {
            let mut visitor = MessageVisitor(false);
            event.record(&mut visitor);
            if visitor.0 {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// User plus system CPU time of the whole process.
fn process_cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes the `rusage` we pass, which is valid and zeroed.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn get_nofile() -> libc::rlimit {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `getrlimit` writes the `rlimit` we pass.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    limit
}

fn set_nofile(limit: libc::rlimit) {
    // SAFETY: `setrlimit` only reads the `rlimit` we pass.
    assert_eq!(
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) },
        0,
        "{}",
        stdio::Error::last_os_error()
    );
}

#[test]
fn accept_with_backoff_waits_out_emfile_without_spinning() {
    let warnings = Arc::new(AtomicUsize::new(0));
    tracing::subscriber::set_global_default(WarnCounter(warnings.clone())).unwrap();

    let env = Env::start();
    let listener = env.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();

    // Exhaust the descriptors under a lowered soft limit, then free one for the client's
    // socket: the process is full again once it connects.
    let original = get_nofile();
    set_nofile(libc::rlimit { rlim_cur: 256.min(original.rlim_cur), rlim_max: original.rlim_max });
    let mut hog = Vec::new();
    let exhausted = loop {
        match File::open("/dev/null") {
            Ok(file) => hog.push(file),
            Err(e) => break e,
        }
    };
    assert_eq!(exhausted.raw_os_error(), Some(libc::EMFILE), "{exhausted:?}");
    hog.pop();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    assert_eq!(File::open("/dev/null").unwrap_err().raw_os_error(), Some(libc::EMFILE));

    let acceptor = env.handles().spawn(move || async move {
        let accepted = listener.accept_with_backoff().await;
        (accepted, listener)
    });

    // It logs and waits...
    wait_until("a back-off warning", || warnings.load(Ordering::SeqCst) > 0);
    let (cpu_before, warned_before) = (process_cpu_time(), warnings.load(Ordering::SeqCst));
    thread::sleep(Duration::from_millis(300));
    let (cpu, warned) = (process_cpu_time() - cpu_before, warnings.load(Ordering::SeqCst) - warned_before);
    assert!(!acceptor.is_finished(), "accept_with_backoff returned while out of descriptors");
    // ...rather than spinning: a spinning loop burns ~300 ms of CPU here, and retries
    // thousands of times; the back-off sleeps 1, 2, 4, ... ms between a handful of tries.
    assert!(cpu < Duration::from_millis(100), "accept loop used {cpu:?} of CPU in 300 ms");
    assert!(warned <= 20, "{warned} retries in 300 ms: the back-off is not backing off");

    // Free the descriptors: the pending connection is accepted (within the back-off's 1 s
    // cap), not lost.
    drop(hog);
    set_nofile(original);
    let (accepted, _listener) = acceptor.join().unwrap();
    let (mut server_side, from) = accepted.unwrap();
    client.set_read_timeout(Some(net_support::DEADLINE)).unwrap();
    assert_eq!(from, client.local_addr().unwrap());
    env.block_on(futures::io::AsyncWriteExt::write_all(&mut server_side, b"welcome")).unwrap();
    let mut buf = [0; 7];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"welcome");
    client.write_all(b"thanks").unwrap();
}
