//! Unit tests of the token layout, the generation check and the readiness protocol.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::scheduled_io::ScheduledIo;
use super::token::{self, decode, encode, next_generation, GENERATION_MASK, INDEX_MASK, MAX_SOURCES};
use super::*;

/// A waker counting its wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count::default());
    (count.clone(), Waker::from(count))
}

fn wake_all(wakers: &mut Vec<Waker>) {
    for waker in wakers.drain(..) {
        waker.wake();
    }
}

#[test]
fn token_round_trip() {
    for (index, generation) in [(0, 0), (1, 1), (MAX_SOURCES - 1, GENERATION_MASK), (12345, 987_654_321)] {
        let generation = generation & GENERATION_MASK;
        assert_eq!(decode(encode(index, generation)), (index, generation));
    }
    // Same slot, different generation: different tokens.
    assert_ne!(encode(7, 1), encode(7, 2));
    // The waker's token decodes to the reserved index, which no source gets.
    let (index, _) = decode(token::WAKER_TOKEN);
    assert_eq!(index, INDEX_MASK);
    assert!(index >= MAX_SOURCES);
    if usize::BITS == 64 {
        assert_eq!(token::INDEX_BITS, 24);
        assert_eq!(GENERATION_MASK, (1 << 40) - 1);
    }
}

#[test]
fn generation_wraps_within_its_bits() {
    assert_eq!(next_generation(0), 1);
    assert_eq!(next_generation(GENERATION_MASK), 0);
    assert_eq!(decode(encode(3, next_generation(GENERATION_MASK))), (3, 0));
}

fn udp() -> mio::net::UdpSocket {
    mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap()
}

#[test]
fn stale_token_does_not_reach_the_new_owner_of_a_slot() {
    let (_driver, handle) = Driver::new().unwrap();
    let mut a = udp();
    let reg_a = handle.register(&mut a, mio::Interest::READABLE).unwrap();
    let token_a = reg_a.token();
    reg_a.deregister(&mut a).unwrap();
    drop(reg_a);
    assert_eq!(handle.inner.sources.lock().slab.len(), 0, "dropping the registration frees its slot");

    let mut b = udp();
    let reg_b = handle.register(&mut b, mio::Interest::READABLE).unwrap();
    let token_b = reg_b.token();
    assert_eq!(decode(token_a).0, decode(token_b).0, "B reuses A's slot");
    assert_ne!(token_a, token_b, "with another generation");

    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(reg_b.poll_read_ready(&mut cx).is_pending());

    // An event for A's token, as if mio had reported it before A was deregistered.
    let mut wakers = Vec::new();
    assert!(!handle.inner.sources.lock().dispatch(token_a, Ready::READABLE, &mut wakers));
    assert!(wakers.is_empty());
    assert!(reg_b.poll_read_ready(&mut cx).is_pending(), "the stale event made B readable");

    // B's own token is delivered.
    assert!(handle.inner.sources.lock().dispatch(token_b, Ready::READABLE, &mut wakers));
    wake_all(&mut wakers);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    match reg_b.poll_read_ready(&mut cx) {
        Poll::Ready(Ok(ev)) => assert!(ev.ready().is_readable()),
        other => panic!("{other:?}"),
    }
    // A token naming an empty slot, and the waker's token, are dropped too.
    assert!(!handle.inner.sources.lock().dispatch(encode(5, 0), Ready::READABLE, &mut wakers));
    assert!(!handle.inner.sources.lock().dispatch(token::WAKER_TOKEN, Ready::READABLE, &mut wakers));
    reg_b.deregister(&mut b).unwrap();
}

#[test]
fn failed_register_frees_its_slot() {
    let (_driver, handle) = Driver::new().unwrap();
    let mut a = udp();
    let reg = handle.register(&mut a, mio::Interest::READABLE).unwrap();
    // Registering the same descriptor twice fails (EEXIST) and must not leak a slot.
    assert!(handle.register(&mut a, mio::Interest::READABLE).is_err());
    assert_eq!(handle.inner.sources.lock().slab.len(), 1);
    reg.deregister(&mut a).unwrap();
}

#[test]
fn clear_is_a_no_op_after_a_newer_event() {
    let io = ScheduledIo::new(0);
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut wakers = Vec::new();
    io.dispatch(Ready::READABLE, &mut wakers);
    let Poll::Ready(Ok(seen)) = io.poll_ready(&mut cx, Direction::Read) else { panic!() };
    // A new edge arrives after the observation (the I/O call's WouldBlock may predate it).
    io.dispatch(Ready::READABLE, &mut wakers);
    io.clear_readiness(seen);
    let Poll::Ready(Ok(again)) = io.poll_ready(&mut cx, Direction::Read) else {
        panic!("the newer edge was lost")
    };
    assert_ne!(again, seen);
    io.clear_readiness(again);
    assert!(io.poll_ready(&mut cx, Direction::Read).is_pending());
}

#[test]
fn clear_keeps_the_final_bits_and_the_other_direction() {
    let io = ScheduledIo::new(0);
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut wakers = Vec::new();
    io.dispatch(Ready::READABLE | Ready::WRITABLE | Ready::READ_CLOSED, &mut wakers);
    let Poll::Ready(Ok(read)) = io.poll_ready(&mut cx, Direction::Read) else { panic!() };
    assert_eq!(read.ready(), Ready::READABLE | Ready::READ_CLOSED, "limited to the read mask");
    io.clear_readiness(read);
    let Poll::Ready(Ok(read)) = io.poll_ready(&mut cx, Direction::Read) else { panic!() };
    assert_eq!(read.ready(), Ready::READ_CLOSED, "READ_CLOSED is final");
    let Poll::Ready(Ok(write)) = io.poll_ready(&mut cx, Direction::Write) else { panic!() };
    assert_eq!(write.ready(), Ready::WRITABLE, "clearing reads left writes alone");
}

#[test]
fn wakes_go_to_the_concerned_directions() {
    let io = ScheduledIo::new(0);
    let (reads, read_waker) = counting_waker();
    let (writes, write_waker) = counting_waker();
    let arm = || {
        assert!(io.poll_ready(&mut Context::from_waker(&read_waker), Direction::Read).is_pending());
        assert!(io.poll_ready(&mut Context::from_waker(&write_waker), Direction::Write).is_pending());
    };
    let mut wakers = Vec::new();
    let mut deliver = |ready: Ready| {
        io.dispatch(ready, &mut wakers);
        wake_all(&mut wakers);
        (reads.0.load(Ordering::SeqCst), writes.0.load(Ordering::SeqCst))
    };
    let clear = |io: &ScheduledIo| {
        let cx = &mut Context::from_waker(&read_waker);
        for d in [Direction::Read, Direction::Write] {
            if let Poll::Ready(Ok(ev)) = io.poll_ready(cx, d) {
                io.clear_readiness(ev);
            }
        }
    };

    arm();
    assert_eq!(deliver(Ready::READABLE), (1, 0));
    clear(&io);
    arm();
    assert_eq!(deliver(Ready::WRITABLE), (1, 1)); // the reader's waker is still stored
    clear(&io);
    arm();
    assert_eq!(deliver(Ready::ERROR), (2, 2), "an error wakes both directions");
    clear(&io);
    arm();
    assert_eq!(deliver(Ready::READ_CLOSED | Ready::WRITE_CLOSED), (3, 3), "a hang-up wakes both");
}

#[test]
fn a_new_waker_replaces_the_old_one() {
    let io = ScheduledIo::new(0);
    let (first, first_waker) = counting_waker();
    let (second, second_waker) = counting_waker();
    assert!(io.poll_ready(&mut Context::from_waker(&first_waker), Direction::Read).is_pending());
    assert!(io.poll_ready(&mut Context::from_waker(&second_waker), Direction::Read).is_pending());
    let mut wakers = Vec::new();
    io.dispatch(Ready::READABLE, &mut wakers);
    wake_all(&mut wakers);
    assert_eq!(first.0.load(Ordering::SeqCst), 0);
    assert_eq!(second.0.load(Ordering::SeqCst), 1);
}

#[test]
fn poll_io_retries_after_would_block() {
    let io = ScheduledIo::new(0);
    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut wakers = Vec::new();
    io.dispatch(Ready::READABLE, &mut wakers);
    let calls = std::cell::Cell::new(0);
    let data = std::cell::Cell::new(0);
    let read = || {
        calls.set(calls.get() + 1);
        match data.take() {
            0 => Err(std::io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    };
    // Readiness was stale: one call, WouldBlock, cleared, waker stored.
    assert!(io.poll_io(&mut cx, Direction::Read, read).is_pending());
    assert_eq!(calls.get(), 1);
    data.set(3);
    io.dispatch(Ready::READABLE, &mut wakers);
    wake_all(&mut wakers);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(matches!(io.poll_io(&mut cx, Direction::Read, read), Poll::Ready(Ok(3))));
}

#[test]
fn dropping_the_driver_fails_registrations_and_wakes_them() {
    let (driver, handle) = Driver::new().unwrap();
    let mut a = udp();
    let reg = handle.register(&mut a, mio::Interest::READABLE).unwrap();
    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(reg.poll_read_ready(&mut cx).is_pending());
    drop(driver);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(matches!(reg.poll_read_ready(&mut cx), Poll::Ready(Err(_))));
    assert!(matches!(reg.poll_write_ready(&mut cx), Poll::Ready(Err(_))));
    let mut b = udp();
    assert!(handle.register(&mut b, mio::Interest::READABLE).is_err());
    reg.deregister(&mut a).unwrap();
}

#[test]
fn thread_safety() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Handle>();
    send_sync::<Registration>();
    send::<Driver>();
}
