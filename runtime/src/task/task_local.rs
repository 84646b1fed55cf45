//! Task-local storage: [`task_local!`](crate::task_local) and [`LocalKey`].
//!
//! The value lives in the future returned by [`LocalKey::scope`]. Around each
//! poll of the inner future it is swapped into a thread-local slot and swapped
//! back out afterwards (also when the poll panics), so the inner future sees it on
//! whichever worker polls it, and nothing outside the scope ever does. The slot is
//! a plain `std` thread-local: it is only touched by the thread that polls, so
//! there is no cross-thread protocol to model.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Declares task-local keys: `static NAME: Type;` items whose values are set for
/// the duration of a future with [`LocalKey::scope`] (or of a closure with
/// [`LocalKey::sync_scope`]).
///
/// ```
/// tern_runtime::task_local! {
///     static REQUEST_ID: u64;
///     pub static USER: String;
/// }
///
/// tern_runtime::Runtime::new().unwrap().block_on(async {
///     let h = tern_runtime::spawn(REQUEST_ID.scope(7, async {
///         tern_runtime::task::yield_now().await;
///         REQUEST_ID.get()
///     }));
///     assert_eq!(h.await.unwrap(), 7);
///     assert!(REQUEST_ID.try_with(|_| ()).is_err()); // not set out here
///     USER.sync_scope("ada".to_string(), || USER.with(|u| assert_eq!(u, "ada")));
/// });
/// ```
#[macro_export]
macro_rules! task_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty; $($rest:tt)*) => {
        $crate::__task_local_inner!($(#[$attr])* $vis $name, $t);
        $crate::task_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty) => {
        $crate::__task_local_inner!($(#[$attr])* $vis $name, $t);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __task_local_inner {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty) => {
        $(#[$attr])*
        $vis static $name: $crate::task::LocalKey<$t> = {
            ::std::thread_local! {
                static __TERN_TASK_LOCAL: ::std::cell::RefCell<::std::option::Option<$t>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            $crate::task::LocalKey { __inner: __TERN_TASK_LOCAL }
        };
    };
}

/// A key for a task-local value of type `T`, declared with
/// [`task_local!`](crate::task_local).
pub struct LocalKey<T: 'static> {
    /// The thread-local slot the value is swapped into while its scope is polled.
    #[doc(hidden)]
    pub __inner: std::thread::LocalKey<RefCell<Option<T>>>,
}

/// The task-local value was not set (outside any scope for its key), or its slot
/// is unavailable (the thread is exiting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessError(());

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task-local value not set")
    }
}

impl Error for AccessError {}

/// Why a scope could not be entered.
enum ScopeError {
    Borrowed,
    Destroyed,
}

impl ScopeError {
    fn panic(self) -> ! {
        match self {
            ScopeError::Borrowed => panic!(
                "cannot enter a task-local scope while the value is borrowed (inside `LocalKey::with`)"
            ),
            ScopeError::Destroyed => {
                panic!("cannot enter a task-local scope: the thread-local storage was destroyed")
            }
        }
    }
}

impl<T: 'static> LocalKey<T> {
    /// Runs `future` with this key set to `value` (visible to `future` only, on
    /// whichever thread polls it). The value is dropped with the returned future.
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> TaskLocalFuture<T, F> {
        TaskLocalFuture { key: self, slot: Some(value), future: Some(future) }
    }

    /// Runs `f` with this key set to `value`, and returns its result.
    ///
    /// # Panics
    /// When called inside [`with`](LocalKey::with) for the same key.
    pub fn sync_scope<F: FnOnce() -> R, R>(&'static self, value: T, f: F) -> R {
        let mut slot = Some(value);
        self.enter(&mut slot, f).unwrap_or_else(|e| e.panic())
    }

    /// Swaps `slot` into the thread-local for the duration of `f`.
    fn enter<F: FnOnce() -> R, R>(&'static self, slot: &mut Option<T>, f: F) -> Result<R, ScopeError> {
        struct Restore<'a, T: 'static> {
            key: &'static LocalKey<T>,
            slot: &'a mut Option<T>,
        }
        impl<T: 'static> Drop for Restore<'_, T> {
            fn drop(&mut self) {
                let _ = self.key.__inner.try_with(|cell| {
                    if let Ok(mut cur) = cell.try_borrow_mut() {
                        std::mem::swap(self.slot, &mut *cur);
                    }
                });
            }
        }
        self.__inner
            .try_with(|cell| {
                cell.try_borrow_mut()
                    .map(|mut cur| std::mem::swap(slot, &mut *cur))
                    .map_err(|_| ScopeError::Borrowed)
            })
            .map_err(|_| ScopeError::Destroyed)??;
        let _restore = Restore { key: self, slot };
        Ok(f())
    }

    /// Calls `f` with a reference to the current value.
    ///
    /// # Panics
    /// Outside a scope for this key; see [`try_with`](LocalKey::try_with).
    #[track_caller]
    pub fn with<F: FnOnce(&T) -> R, R>(&'static self, f: F) -> R {
        match self.try_with(f) {
            Ok(r) => r,
            Err(_) => panic!("task-local value not set: access it inside `LocalKey::scope`"),
        }
    }

    /// Calls `f` with a reference to the current value, or fails outside a scope.
    pub fn try_with<F: FnOnce(&T) -> R, R>(&'static self, f: F) -> Result<R, AccessError> {
        let mut f = Some(f);
        self.__inner
            .try_with(|cell| {
                let cur = cell.try_borrow().map_err(|_| AccessError(()))?;
                match cur.as_ref() {
                    Some(v) => Ok((f.take().expect("called once"))(v)),
                    None => Err(AccessError(())),
                }
            })
            .map_err(|_| AccessError(()))?
    }

    /// A clone of the current value.
    ///
    /// # Panics
    /// Outside a scope for this key.
    #[track_caller]
    pub fn get(&'static self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKey { .. }")
    }
}

/// The future returned by [`LocalKey::scope`].
#[must_use = "futures do nothing unless polled"]
pub struct TaskLocalFuture<T: 'static, F> {
    key: &'static LocalKey<T>,
    /// The value while the future is not being polled; not structurally pinned.
    slot: Option<T>,
    /// Structurally pinned; `None` once finished.
    future: Option<F>,
}

impl<T: 'static, F: Future> Future for TaskLocalFuture<T, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out, only
        // polled through `Pin::new_unchecked` and dropped in place. `slot` and
        // `key` are not pinned and may be moved freely.
        let this = unsafe { self.get_unchecked_mut() };
        let future = &mut this.future;
        let res = this.key.enter(&mut this.slot, || {
            let fut = future.as_mut().expect("TaskLocalFuture polled after completion");
            // SAFETY: see above; `fut` stays where it is until dropped in place.
            let res = unsafe { Pin::new_unchecked(fut) }.poll(cx);
            if res.is_ready() {
                // Dropped in place, with the value still visible to its `Drop`.
                *future = None;
            }
            res
        });
        res.unwrap_or_else(|e| e.panic())
    }
}

impl<T: 'static, F> Drop for TaskLocalFuture<T, F> {
    fn drop(&mut self) {
        if self.future.is_some() {
            let future = &mut self.future;
            // Drop the inner future inside the scope, so its destructor sees the
            // value too; if the scope cannot be entered, drop it without.
            let _ = self.key.enter(&mut self.slot, || *future = None);
            self.future = None;
        }
    }
}

impl<T: 'static, F> fmt::Debug for TaskLocalFuture<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskLocalFuture { .. }")
    }
}
