//! Error classification for `accept` and the exponential back-off of `accept_with_backoff`.

use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::time;

/// The first back-off delay after a resource-exhaustion error.
pub(crate) const MIN_DELAY: Duration = Duration::from_millis(1);
/// The longest back-off delay.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(1);

/// Whether `e` from `accept(2)` concerns only the connection being accepted (it was aborted
/// or refused before we took it), so the listener should skip it and take the next one.
///
/// `ECONNABORTED` everywhere; on Linux also `EPROTO` (protocol error on the new socket) and
/// `EPERM` (a firewall rule refused the connection), which `accept(2)` documents as
/// per-connection failures.
pub(crate) fn is_connection_error(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::ConnectionAborted {
        return true;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if matches!(e.raw_os_error(), Some(libc::EPROTO | libc::EPERM)) {
        return true;
    }
    false
}

/// Whether `e` means the process or the system ran out of a resource (`EMFILE`, `ENFILE`,
/// `ENOBUFS`, `ENOMEM`): the pending connection stays queued and can be accepted once
/// something is freed.
pub(crate) fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

/// Exponential back-off: [`MIN_DELAY`], doubling up to [`MAX_DELAY`].
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    /// A back-off whose first delay is [`MIN_DELAY`].
    pub(crate) fn new() -> Backoff {
        Backoff { next: MIN_DELAY }
    }

    /// The delay to wait now; doubles the following one (capped at [`MAX_DELAY`]).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(MAX_DELAY);
        delay
    }
}

/// Runs `poll_accept` until it succeeds or fails with an error that is not resource
/// exhaustion; after each resource-exhaustion error, logs a warning and sleeps on the current
/// timer driver for the next [`Backoff`] delay. Each call starts a fresh back-off, so the
/// delay is back to [`MIN_DELAY`] after a success.
///
/// `what` names the listener kind in the log (`"tcp"`, `"unix"`).
///
/// # Errors
///
/// `poll_accept`'s other errors; the resource-exhaustion error itself if no timer driver is
/// current (there is nothing to sleep on).
pub(crate) async fn accept_with_backoff<T>(
    what: &'static str,
    mut poll_accept: impl FnMut(&mut Context<'_>) -> Poll<io::Result<T>>,
) -> io::Result<T> {
    let mut backoff = Backoff::new();
    loop {
        match poll_fn(&mut poll_accept).await {
            Err(e) if is_resource_exhaustion(&e) => {
                let Some(timer) = time::Handle::try_current() else {
                    tracing::warn!(error = %e, "{what} accept: out of resources and no timer driver to back off on");
                    return Err(e);
                };
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, ?delay, "{what} accept: out of resources; retrying after a delay");
                timer.sleep(delay).await;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let mut backoff = Backoff::new();
        let delays: Vec<u128> = (0..13).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000, 1000]);
    }

    #[test]
    fn classifies_errors() {
        let os = io::Error::from_raw_os_error;
        assert!(is_resource_exhaustion(&os(libc::EMFILE)));
        assert!(is_resource_exhaustion(&os(libc::ENFILE)));
        assert!(is_resource_exhaustion(&os(libc::ENOBUFS)));
        assert!(is_resource_exhaustion(&os(libc::ENOMEM)));
        assert!(!is_resource_exhaustion(&os(libc::ECONNABORTED)));
        assert!(is_connection_error(&os(libc::ECONNABORTED)));
        assert!(!is_connection_error(&os(libc::EMFILE)));
        assert!(!is_connection_error(&os(libc::EBADF)));
        #[cfg(target_os = "linux")]
        {
            assert!(is_connection_error(&os(libc::EPROTO)));
            assert!(is_connection_error(&os(libc::EPERM)));
        }
    }
}
