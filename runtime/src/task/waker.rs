//! The raw waker vtable. The waker's data pointer is the task header; every live
//! `Waker` owns one task reference.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::raw::Header;
use super::state::WakeAction;
use super::trace;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker borrowing the running reference: cloning it takes a new reference,
/// dropping the `ManuallyDrop` releases nothing.
pub(crate) fn borrowed(ptr: NonNull<Header>) -> ManuallyDrop<Waker> {
    // SAFETY: the vtable upholds RawWaker's contract for task headers, and the
    // ManuallyDrop keeps this borrowed waker from releasing a reference it never took.
    ManuallyDrop::new(unsafe { Waker::from_raw(raw(ptr)) })
}

fn raw(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr() as *const (), &VTABLE)
}

/// # Safety
/// `data` is a live task header on which the caller holds a reference.
unsafe fn header<'a>(data: *const ()) -> &'a Header {
    // SAFETY: per the contract above.
    unsafe { &*(data as *const Header) }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: a waker exists, so its reference keeps the task alive.
    let h = unsafe { header(data) };
    trace::waker(h, "waker.clone");
    h.state.ref_inc();
    raw(NonNull::new(data as *mut Header).expect("null waker"))
}

unsafe fn wake(data: *const ()) {
    // SAFETY: this waker's reference keeps the task alive until consumed below.
    let h = unsafe { header(data) };
    trace::waker(h, "waker.wake");
    let ptr = NonNull::from(h);
    match h.state.wake_by_val() {
        // SAFETY: the waker's reference became the Notified's.
        WakeAction::Submit => unsafe { (h.vtable.schedule)(ptr) },
        // SAFETY: it was the last reference.
        WakeAction::Dealloc => unsafe { (h.vtable.dealloc)(ptr) },
        WakeAction::Nothing => {}
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: this waker's reference keeps the task alive.
    let h = unsafe { header(data) };
    trace::waker(h, "waker.wake_by_ref");
    match h.state.wake_by_ref() {
        // SAFETY: wake_by_ref counted a new reference for the Notified.
        WakeAction::Submit => unsafe { (h.vtable.schedule)(NonNull::from(h)) },
        WakeAction::Nothing => {}
        WakeAction::Dealloc => unreachable!("wake_by_ref never releases a reference"),
    }
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: this waker's reference keeps the task alive until released.
    let h = unsafe { header(data) };
    trace::waker(h, "waker.drop");
    if h.state.ref_dec() {
        // SAFETY: it was the last reference.
        unsafe { (h.vtable.dealloc)(NonNull::from(h)) }
    }
}
