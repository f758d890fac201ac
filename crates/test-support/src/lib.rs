//! Helpers shared by the unit tests of several modules (test builds only).

/// Far below the 8 MiB of a connection thread and the 2 MiB of Rust's default.
pub const SMALL_STACK: usize = 256 * 1024;

/// Runs `work` on a thread with a [`SMALL_STACK`]: a recursion that the
/// nesting bounds do not stop overflows it (and aborts the test binary).
pub fn on_small_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(SMALL_STACK).spawn(work).expect("thread starts").join().expect("no overflow")
}
