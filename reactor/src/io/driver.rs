//! The event loop ([`Driver`]), the handle that registers sources ([`Handle`]) and the
//! thread-local "current handle".

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use parking_lot::Mutex;
use slab::Slab;

use super::ready::Ready;
use super::registration::Registration;
use super::scheduled_io::{shutdown_error, ScheduledIo};
use super::token;

/// How many events one [`Driver::turn`] takes from `mio` at most.
const EVENTS_CAPACITY: usize = 1024;

/// The I/O event loop: owns the `mio::Poll` and dispatches its events to the registered
/// sources' [`Registration`]s. It runs no tasks; whatever owns it calls [`Driver::turn`] in a
/// loop (typically when it would otherwise park) and runs the tasks the wakers schedule.
///
/// Dropping the driver shuts it down: every registration's pending and later polls fail, the
/// tasks waiting on them are woken, and [`Handle::register`] fails.
pub struct Driver {
    poll: mio::Poll,
    events: mio::Events,
    inner: Arc<Inner>,
    /// Reused buffer of the wakers one turn collects.
    wakers: Vec<Waker>,
}

/// A cheap, cloneable, `Send + Sync` reference to a [`Driver`]: registers sources and wakes a
/// blocked [`Driver::turn`].
#[derive(Clone)]
pub struct Handle {
    pub(crate) inner: Arc<Inner>,
}

/// State shared by the driver and its handles.
pub(crate) struct Inner {
    registry: mio::Registry,
    waker: mio::Waker,
    pub(crate) sources: Mutex<Sources>,
}

/// The slab of registered sources, behind `Inner::sources`.
pub(crate) struct Sources {
    pub(crate) slab: Slab<Arc<ScheduledIo>>,
    /// Generation for the next registration (see [`token`]).
    next_generation: usize,
    /// Set when the driver is dropped.
    shutdown: bool,
}

impl Driver {
    /// A new driver (a new `epoll`/`kqueue` instance plus a `mio::Waker`) and a handle to it.
    ///
    /// # Errors
    ///
    /// The OS error if the poller or its waker cannot be created (e.g. out of file
    /// descriptors).
    pub fn new() -> io::Result<(Driver, Handle)> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), token::WAKER_TOKEN)?;
        let registry = poll.registry().try_clone()?;
        let inner = Arc::new(Inner {
            registry,
            waker,
            sources: Mutex::new(Sources { slab: Slab::new(), next_generation: 0, shutdown: false }),
        });
        let handle = Handle { inner: inner.clone() };
        let driver =
            Driver { poll, events: mio::Events::with_capacity(EVENTS_CAPACITY), inner, wakers: Vec::new() };
        Ok((driver, handle))
    }

    /// Another handle to this driver.
    pub fn handle(&self) -> Handle {
        Handle { inner: self.inner.clone() }
    }

    /// Polls the OS once and dispatches what it reports.
    ///
    /// Blocks until at least one event arrives, [`Handle::unpark`] is called, or `timeout`
    /// passes: `None` waits without limit, `Some(Duration::ZERO)` does not block, and other
    /// timeouts are rounded up to the poller's resolution (1 ms on Linux). For each event the
    /// token's generation is checked (stale events, for a slab slot that changed owner, are
    /// dropped), the readiness is recorded, and the wakers to wake are collected; they are
    /// woken after the slab lock is released, before returning. At most 1024 events are taken
    /// per call; the rest stay queued in the OS for the next call.
    ///
    /// Returns the number of events delivered to live registrations: wake-ups from
    /// [`Handle::unpark`] and stale events are not counted. A signal interrupting the wait
    /// (`EINTR`) is not an error: the call returns `Ok(0)`.
    ///
    /// # Errors
    ///
    /// The OS error of the poll call (other than `EINTR`), e.g. `EBADF`; the driver is
    /// unusable after one.
    pub fn turn(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        let mut wakers = std::mem::take(&mut self.wakers);
        let mut dispatched = 0;
        {
            let sources = self.inner.sources.lock();
            for event in self.events.iter() {
                let token = event.token();
                if token == token::WAKER_TOKEN {
                    continue;
                }
                if sources.dispatch(token, Ready::from_mio(event), &mut wakers) {
                    dispatched += 1;
                }
            }
        }
        for waker in wakers.drain(..) {
            waker.wake();
        }
        self.wakers = wakers;
        Ok(dispatched)
    }
}

impl Sources {
    /// Delivers `ready` to the source `token` names, if it is still registered under that
    /// token's generation; returns whether it was.
    pub(crate) fn dispatch(&self, token: mio::Token, ready: Ready, wakers: &mut Vec<Waker>) -> bool {
        let (index, generation) = token::decode(token);
        match self.slab.get(index) {
            Some(io) if io.generation() == generation => {
                io.dispatch(ready, wakers);
                true
            }
            _ => false,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let mut wakers = Vec::new();
        {
            let mut sources = self.inner.sources.lock();
            sources.shutdown = true;
            for (_, io) in sources.slab.iter() {
                io.shutdown(&mut wakers);
            }
        }
        for waker in wakers {
            waker.wake();
        }
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").field("sources", &self.inner.sources.lock().slab.len()).finish()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

impl Handle {
    /// Registers `source` with the driver for `interest` (edge-triggered) and returns its
    /// [`Registration`], which tracks the source's readiness and wakes the tasks waiting on it.
    ///
    /// The registration does not own the source: the owner must call
    /// [`Registration::deregister`] before dropping the source or the registration (closing
    /// the file descriptor also removes it from the poller on Linux, but not if it was
    /// duplicated).
    ///
    /// # Errors
    ///
    /// The OS error from the poller (e.g. `EEXIST` if the source is already registered); an
    /// error of kind `Other` if the driver was dropped or 2^24 - 1 sources (2^16 - 1 on 32-bit
    /// targets) are registered at once.
    pub fn register(
        &self,
        source: &mut impl mio::event::Source,
        interest: mio::Interest,
    ) -> io::Result<Registration> {
        let (io, token) = {
            let mut guard = self.inner.sources.lock();
            let sources = &mut *guard;
            if sources.shutdown {
                return Err(shutdown_error());
            }
            let entry = sources.slab.vacant_entry();
            let index = entry.key();
            if index >= token::MAX_SOURCES {
                return Err(io::Error::other("too many sources registered with the tern I/O driver"));
            }
            let generation = sources.next_generation;
            sources.next_generation = token::next_generation(generation);
            let io = Arc::new(ScheduledIo::new(generation));
            entry.insert(io.clone());
            (io, token::encode(index, generation))
        };
        // Built before registering: if `register` fails, its drop frees the slab slot.
        let registration = Registration::new(self.clone(), io, token);
        self.inner.registry.register(source, token, interest)?;
        Ok(registration)
    }

    /// Wakes the driver: a [`Driver::turn`] blocked on another thread returns (with `Ok(0)` if
    /// nothing else happened); if none is blocked, the next one returns at once.
    ///
    /// # Errors
    ///
    /// The OS error of writing to the driver's wake-up descriptor (not expected).
    pub fn unpark(&self) -> io::Result<()> {
        self.inner.waker.wake()
    }

    /// The handle set on this thread by [`Handle::enter`].
    ///
    /// # Panics
    ///
    /// If no handle is set on this thread (use [`Handle::try_current`] to get `None`
    /// instead), or if called while the thread's locals are being destroyed.
    pub fn current() -> Handle {
        Handle::try_current().expect("no tern I/O driver is set on this thread (Handle::enter)")
    }

    /// The handle set on this thread by [`Handle::enter`], or `None` if there is none (or the
    /// thread's locals are being destroyed).
    pub fn try_current() -> Option<Handle> {
        CURRENT.try_with(|current| current.borrow().clone()).ok().flatten()
    }

    /// Makes this handle the thread's current one until the guard is dropped, which restores
    /// the previous one. Guards of nested `enter` calls must be dropped in reverse order.
    ///
    /// # Panics
    ///
    /// If called while the thread's locals are being destroyed.
    pub fn enter(&self) -> EnterGuard {
        let previous = CURRENT.with(|current| current.replace(Some(self.clone())));
        EnterGuard { previous, _not_send: PhantomData }
    }

    /// Deregisters `source` from the poller (used by [`Registration`]).
    pub(crate) fn deregister(&self, source: &mut impl mio::event::Source) -> io::Result<()> {
        self.inner.registry.deregister(source)
    }

    /// Changes `source`'s interest (used by [`Registration`]).
    pub(crate) fn reregister(
        &self,
        source: &mut impl mio::event::Source,
        token: mio::Token,
        interest: mio::Interest,
    ) -> io::Result<()> {
        self.inner.registry.reregister(source, token, interest)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

/// Returned by [`Handle::enter`]: while it lives, [`Handle::current`] returns that handle on
/// this thread. Dropping it restores the previous one. Not `Send`.
#[must_use = "the handle is only current until the guard is dropped"]
pub struct EnterGuard {
    previous: Option<Handle>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|current| *current.borrow_mut() = previous);
    }
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}
