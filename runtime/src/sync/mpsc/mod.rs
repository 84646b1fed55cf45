//! Multi-producer, single-consumer FIFO channels.
//!
//! [`channel`] makes a bounded channel: at most `capacity` messages are buffered,
//! and [`Sender::send`] waits (asynchronously) for a free slot, which is
//! backpressure. Waiting senders get slots in the order they started waiting.
//! [`unbounded_channel`] buffers without limit and its `send` never waits.
//!
//! Closing: when every sender is dropped, the receiver still gets the buffered
//! messages, then `None`. When the receiver is dropped or calls
//! [`Receiver::close`], further sends fail and return their value; after `close`
//! the receiver may still drain what was buffered (and what outstanding
//! [`Permit`]s send). Messages left in the channel are dropped with the receiver.
//!
//! Cancellation: dropping a `send` future that waits for a slot gives its place
//! (or the slot it was just handed) to the next waiting sender, so no capacity and
//! no wake-up is lost; dropping a `recv` future loses no message.
//!
//! Every await point spends one unit of the task's co-operative budget
//! ([`crate::coop`]) when it completes.
//!
//! Implementation: sends and receives are lock-free. Messages go through a linked
//! list of fixed-size blocks where each send claims its slot with one atomic
//! add; a bounded channel's slots are a FIFO [`Semaphore`](crate::sync::Semaphore)
//! of `capacity` permits. A few effects of that are visible:
//!
//! - a send is "in the channel" from the moment it claims its slot, slightly
//!   before its message can be received: [`Receiver::len`] counts it already, and
//!   [`Receiver::try_recv`] may return [`TryRecvError::Empty`](error::TryRecvError)
//!   in that short window (it does not wait for the writer; `recv` is woken by it);
//! - after [`Receiver::close`], `recv` returns `None` only once every [`Permit`]
//!   is back, including a slot just handed to a waiting sender, which fails with
//!   its value once it runs;
//! - a message sent (on a [`Permit`]) at the very moment the receiver is dropped
//!   may stay in the channel until the last sender is gone, and is dropped then.
//!
//! Synchronous code (a plain thread, a `spawn_blocking` job) talks to async code
//! through [`Sender::blocking_send`], [`Receiver::blocking_recv`] and
//! [`UnboundedReceiver::blocking_recv`], which park the calling thread; they
//! panic on a thread that drives a runtime.
//!
//! ```
//! use tern_runtime::sync::mpsc;
//!
//! tern_runtime::block_on(async {
//!     let (tx, mut rx) = mpsc::channel(2);
//!     for i in 0..3 {
//!         let tx = tx.clone();
//!         tern_runtime::spawn(async move { tx.send(i).await.unwrap() });
//!     }
//!     drop(tx);
//!     let mut got = Vec::new();
//!     while let Some(v) = rx.recv().await {
//!         got.push(v);
//!     }
//!     got.sort();
//!     assert_eq!(got, [0, 1, 2]);
//! })
//! ```

pub(crate) mod atomic_waker;
mod bounded;
mod chan;
pub mod error;
mod queue;
mod unbounded;
pub(crate) mod wait_list;

pub use bounded::{channel, Permit, Receiver, Sender, WeakSender};
pub use unbounded::{unbounded_channel, UnboundedReceiver, UnboundedSender, WeakUnboundedSender};
