//! [`CancelToken`]: a cancellation signal shared by tasks, arranged in a tree.
//!
//! # Protocol
//!
//! Every token handle points at a `Node`. A node holds an atomic `cancelled` flag
//! (read lock-free by [`CancelToken::is_cancelled`]) and, behind its own mutex,
//! the wakers of pending [`CancelToken::cancelled`] futures, its children and its
//! parent. Rules (modelled in `loom-tests/tests/cancel_token.rs`):
//!
//! - The flag is only ever set under the node's lock, and waiters register and
//!   children link under that lock after re-checking it: a waker that registered
//!   before the cancel is woken by it, one that registers after sees the flag, so
//!   no wake-up is lost; a child linked before the cancel is cancelled by it, one
//!   created after starts cancelled.
//! - Only one lock is ever held at a time, so there is no lock order to respect.
//! - Parent and children refer to each other with strong `Arc`s. The cycle is
//!   broken by whichever comes first: the parent's cancel (it empties its child
//!   list), or the child becoming dead (no handles and no children left), at which
//!   point it unlinks itself from its parent and drops its parent reference. A node
//!   whose handles are gone but that still has children stays linked, so cancelling
//!   an ancestor still reaches its descendants.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::loom::{Arc, AtomicBool, Mutex, Ordering};

struct Node {
    cancelled: AtomicBool,
    inner: Mutex<Inner>,
}

struct Inner {
    /// Live `CancelToken` handles pointing at this node.
    handles: usize,
    /// The parent and this node's key in the parent's `children`.
    parent: Option<(Arc<Node>, usize)>,
    children: Slab<Arc<Node>>,
    waiters: Slab<Waker>,
}

impl Node {
    fn new(cancelled: bool, parent: Option<(Arc<Node>, usize)>) -> Node {
        Node {
            cancelled: AtomicBool::new(cancelled),
            inner: Mutex::new(Inner { handles: 1, parent, children: Slab::new(), waiters: Slab::new() }),
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

/// Cancels `root` and all its descendants, waking their waiters (outside the locks).
fn cancel_tree(root: &Arc<Node>) {
    let mut stack = vec![root.clone()];
    while let Some(node) = stack.pop() {
        let (waiters, children) = {
            let mut inner = node.inner.lock();
            if node.cancelled.load(Ordering::Relaxed) {
                continue;
            }
            node.cancelled.store(true, Ordering::Release);
            let waiters = std::mem::take(&mut inner.waiters);
            let children = std::mem::take(&mut inner.children);
            (waiters, children)
        };
        for (_, waker) in waiters {
            waker.wake();
        }
        stack.extend(children.into_iter().map(|(_, c)| c));
    }
}

/// Called once `node` may be dead (no handles and no children): unlinks it from
/// its parent, and walks up as long as that leaves the parent dead too.
fn release(node: Arc<Node>) {
    let mut node = node;
    loop {
        let parent = {
            let mut inner = node.inner.lock();
            if inner.handles > 0 || !inner.children.is_empty() {
                return;
            }
            inner.parent.take()
        };
        let Some((parent, key)) = parent else { return };
        let removed = {
            let mut p = parent.inner.lock();
            match p.children.get(key) {
                // The key may have been reused after a cancel emptied the list
                // (it cannot: a cancelled node links no new child), but check anyway.
                Some(child) if Arc::ptr_eq(child, &node) => p.children.try_remove(key),
                _ => None,
            }
        };
        drop(removed);
        drop(node);
        node = parent;
    }
}

/// A cancellation signal: cheap to clone (clones share the signal), cancelled
/// once and for ever.
///
/// [`child_token`](CancelToken::child_token) derives a token that is cancelled
/// when its parent is (and stays independent the other way round). A child that
/// is dropped before its parent is cancelled unlinks itself, so long-lived parents
/// do not accumulate dead children.
///
/// ```
/// use tern_runtime::task::CancelToken;
///
/// let rt = tern_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let token = CancelToken::new();
///     let child = token.child_token();
///     let worker = tern_runtime::spawn(async move {
///         child.run_until_cancelled(std::future::pending::<()>()).await
///     });
///     token.cancel();
///     assert_eq!(worker.await.unwrap(), None);
/// });
/// ```
pub struct CancelToken {
    node: Arc<Node>,
}

impl CancelToken {
    /// A new, uncancelled token with no parent.
    pub fn new() -> CancelToken {
        CancelToken { node: Arc::new(Node::new(false, None)) }
    }

    /// A token cancelled when this one is (or at once, if this one already is).
    /// Cancelling the child does not cancel this token.
    pub fn child_token(&self) -> CancelToken {
        let mut inner = self.node.inner.lock();
        if self.node.cancelled.load(Ordering::Relaxed) {
            drop(inner);
            return CancelToken { node: Arc::new(Node::new(true, None)) };
        }
        let entry = inner.children.vacant_entry();
        let child = Arc::new(Node::new(false, Some((self.node.clone(), entry.key()))));
        entry.insert(child.clone());
        CancelToken { node: child }
    }

    /// Cancels this token and all its descendants, and wakes every task waiting
    /// in [`cancelled`](CancelToken::cancelled). Idempotent.
    pub fn cancel(&self) {
        cancel_tree(&self.node);
    }

    /// `true` once this token (or an ancestor) was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.node.is_cancelled()
    }

    /// Resolves once the token is cancelled.
    ///
    /// Cancel safe: dropping the future unregisters its waker, nothing else.
    pub fn cancelled(&self) -> WaitForCancellation<'_> {
        WaitForCancellation { node: &self.node, key: None }
    }

    /// Like [`cancelled`](CancelToken::cancelled), owning a clone of the token
    /// (`'static`, so it can move into a spawned task).
    pub fn cancelled_owned(self) -> WaitForCancellationOwned {
        WaitForCancellationOwned { token: self, key: None }
    }

    /// A guard that cancels this token when dropped, unless
    /// [`disarm`](DropGuard::disarm)ed.
    pub fn drop_guard(self) -> DropGuard {
        DropGuard { token: Some(self) }
    }

    /// Runs `fut` until it completes (`Some(output)`) or the token is cancelled
    /// (`None`; `fut` is then dropped). Cancellation wins when both are ready.
    pub async fn run_until_cancelled<F: Future>(&self, fut: F) -> Option<F::Output> {
        let mut fut = std::pin::pin!(fut);
        let mut cancelled = std::pin::pin!(self.cancelled());
        std::future::poll_fn(|cx| {
            if cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            fut.as_mut().poll(cx).map(Some)
        })
        .await
    }

    /// Number of children currently linked to this token's node (loom models).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn __linked_children(&self) -> usize {
        self.node.inner.lock().children.len()
    }

    /// Number of wakers currently registered on this token's node (loom models).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn __registered_waiters(&self) -> usize {
        self.node.inner.lock().waiters.len()
    }
}

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken::new()
    }
}

impl Clone for CancelToken {
    fn clone(&self) -> Self {
        self.node.inner.lock().handles += 1;
        CancelToken { node: self.node.clone() }
    }
}

impl Drop for CancelToken {
    fn drop(&mut self) {
        let last = {
            let mut inner = self.node.inner.lock();
            inner.handles -= 1;
            inner.handles == 0
        };
        if last {
            release(self.node.clone());
        }
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken").field("is_cancelled", &self.is_cancelled()).finish()
    }
}

/// Registers (or refreshes) `cx`'s waker on `node`, unless it is cancelled.
fn poll_cancelled(node: &Node, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<()> {
    if node.is_cancelled() {
        return Poll::Ready(());
    }
    let mut inner = node.inner.lock();
    // Re-check under the lock: `cancel` sets the flag and drains the waiters
    // under it, so either it sees our waker or we see its flag.
    if node.cancelled.load(Ordering::Relaxed) {
        *key = None;
        return Poll::Ready(());
    }
    match key.and_then(|k| inner.waiters.get_mut(k)) {
        Some(w) if w.will_wake(cx.waker()) => {}
        Some(w) => w.clone_from(cx.waker()),
        None => *key = Some(inner.waiters.insert(cx.waker().clone())),
    }
    Poll::Pending
}

fn unregister(node: &Node, key: &mut Option<usize>) {
    if let Some(k) = key.take() {
        let waker = {
            let mut inner = node.inner.lock();
            // After a cancel the slab was drained (and a cancelled node registers no
            // new waiters), so a missing key is normal.
            inner.waiters.try_remove(k)
        };
        drop(waker);
    }
}

/// The future returned by [`CancelToken::cancelled`].
#[must_use = "futures do nothing unless polled"]
pub struct WaitForCancellation<'a> {
    node: &'a Arc<Node>,
    key: Option<usize>,
}

impl Future for WaitForCancellation<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        poll_cancelled(this.node, &mut this.key, cx)
    }
}

impl Drop for WaitForCancellation<'_> {
    fn drop(&mut self) {
        unregister(self.node, &mut self.key);
    }
}

impl fmt::Debug for WaitForCancellation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WaitForCancellation")
    }
}

/// The future returned by [`CancelToken::cancelled_owned`].
#[must_use = "futures do nothing unless polled"]
pub struct WaitForCancellationOwned {
    token: CancelToken,
    key: Option<usize>,
}

impl Future for WaitForCancellationOwned {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        poll_cancelled(&this.token.node, &mut this.key, cx)
    }
}

impl Drop for WaitForCancellationOwned {
    fn drop(&mut self) {
        unregister(&self.token.node, &mut self.key);
    }
}

impl fmt::Debug for WaitForCancellationOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WaitForCancellationOwned")
    }
}

/// Cancels its token when dropped; see [`CancelToken::drop_guard`].
#[must_use = "dropping the guard cancels the token at once"]
pub struct DropGuard {
    token: Option<CancelToken>,
}

impl DropGuard {
    /// Gives the token back without cancelling it.
    pub fn disarm(mut self) -> CancelToken {
        self.token.take().expect("a DropGuard holds its token until disarmed or dropped")
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(token) = &self.token {
            token.cancel();
        }
    }
}

impl fmt::Debug for DropGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropGuard").field("token", &self.token).finish()
    }
}
