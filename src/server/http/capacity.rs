//! What requests share, counted out with a wait bound: worker permits (how
//! many requests are handled at once) and the bytes of request bodies
//! buffered at once. Bodies are read before a worker permit is taken, so a
//! slow body never holds one; the byte budget keeps a thousand connections
//! from each buffering a maximal body.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A counting semaphore whose units are taken with a time bound.
pub struct Semaphore {
    total: usize,
    available: Mutex<usize>,
    returned: Condvar,
}

/// Units taken from a [`Semaphore`]; given back on drop.
pub struct Held<'a> {
    semaphore: &'a Semaphore,
    units: usize,
}

impl Semaphore {
    pub fn new(total: usize) -> Self {
        Semaphore { total, available: Mutex::new(total), returned: Condvar::new() }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// Takes `units` (at most the total), waiting up to `wait`; None when they did not come free.
    pub fn acquire(&self, units: usize, wait: Duration) -> Option<Held<'_>> {
        let units = units.min(self.total);
        let deadline = Instant::now() + wait;
        let mut available = self.available.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while *available < units {
            let left = deadline.checked_duration_since(Instant::now()).filter(|left| !left.is_zero())?;
            available = self
                .returned
                .wait_timeout(available, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        *available -= units;
        Some(Held { semaphore: self, units })
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        *self.semaphore.available.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) += self.units;
        // waiters want different amounts: each checks for itself
        self.semaphore.returned.notify_all();
    }
}

/// The shared capacity a request draws on.
pub struct Capacity {
    pub workers: Semaphore,
    pub body_bytes: Semaphore,
    /// how long a request waits for either before it is answered 503
    pub wait: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    #[error("all {workers} workers stayed busy for {waited:?}: try again later")]
    Workers { workers: usize, waited: Duration },
    #[error("request bodies being received exceed {bytes} bytes: try again later")]
    BodyBytes { bytes: usize },
}

impl Capacity {
    pub fn worker(&self) -> Result<Held<'_>, Busy> {
        self.workers.acquire(1, self.wait).ok_or(Busy::Workers { workers: self.workers.total(), waited: self.wait })
    }

    pub fn body_bytes(&self, bytes: usize) -> Result<Held<'_>, Busy> {
        self.body_bytes.acquire(bytes, self.wait).ok_or(Busy::BodyBytes { bytes: self.body_bytes.total() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_come_back_on_drop_and_a_wait_is_bounded() {
        let semaphore = Semaphore::new(3);
        let two = semaphore.acquire(2, Duration::ZERO).unwrap();
        assert!(semaphore.acquire(2, Duration::from_millis(50)).is_none());
        let one = semaphore.acquire(1, Duration::ZERO).unwrap();
        drop(two);
        assert!(semaphore.acquire(2, Duration::ZERO).is_some());
        drop(one);
        assert_eq!(semaphore.acquire(10, Duration::ZERO).map(|held| held.units), Some(3), "capped at the total");
    }

    #[test]
    fn a_waiter_gets_units_given_back_while_it_waits() {
        let semaphore = Semaphore::new(1);
        std::thread::scope(|scope| {
            let held = semaphore.acquire(1, Duration::ZERO).unwrap();
            let waiter = scope.spawn(|| semaphore.acquire(1, Duration::from_secs(20)).is_some());
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
            assert!(waiter.join().unwrap());
        });
    }
}
