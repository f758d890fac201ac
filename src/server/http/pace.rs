//! The read side of a connection, with the pace a client must keep: a thread
//! per connection means a client that trickles bytes holds a thread (and, in
//! a body, buffered memory) for as long as it likes unless every read has a
//! deadline. Each read sets the socket's timeout to what is left of the
//! current deadline, so no single read can wait past it.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The shortest socket timeout set (zero would mean "no timeout").
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pace {
    /// waiting for the next request on a kept-alive connection; its first
    /// byte starts the head deadline
    Idle { until: Instant },
    /// a request head (or a lingering close): everything by `until`
    Until { until: Instant },
    /// a body: at least `min_bytes` in every `window` (from its first read)
    Body { window: Option<Window> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Window {
    started: Instant,
    bytes: u64,
}

/// Why a read gave up; carried inside an `io::Error` of kind `TimedOut`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaceError {
    #[error("deadline passed")]
    Deadline,
    #[error("request body slower than {min_bytes} bytes per {window:?}")]
    BodyTooSlow { min_bytes: u64, window: Duration },
}

/// The minimum rate of a body: `min_bytes` in every `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinRate {
    pub min_bytes: u64,
    pub window: Duration,
}

pub(super) struct PacedStream {
    stream: TcpStream,
    pace: Pace,
    head_timeout: Duration,
    body_rate: MinRate,
}

impl PacedStream {
    pub fn new(stream: TcpStream, pace: Pace, head_timeout: Duration, body_rate: MinRate) -> Self {
        PacedStream { stream, pace, head_timeout, body_rate }
    }

    pub fn set_pace(&mut self, pace: Pace) {
        self.pace = pace;
    }

    /// The socket timeout for the next read, or the error when the pace is already broken.
    fn timeout(&mut self, now: Instant) -> io::Result<Duration> {
        match &mut self.pace {
            Pace::Idle { until } | Pace::Until { until } => until
                .checked_duration_since(now)
                .filter(|left| !left.is_zero())
                .ok_or_else(|| timed_out(PaceError::Deadline)),
            Pace::Body { window } => {
                let rate = self.body_rate;
                let current = window.get_or_insert(Window { started: now, bytes: 0 });
                if now.duration_since(current.started) >= rate.window {
                    if current.bytes < rate.min_bytes {
                        return Err(timed_out(PaceError::BodyTooSlow {
                            min_bytes: rate.min_bytes,
                            window: rate.window,
                        }));
                    }
                    *current = Window { started: now, bytes: 0 };
                }
                Ok(rate.window - now.duration_since(current.started))
            }
        }
    }

    fn count(&mut self, read: usize, now: Instant) {
        match &mut self.pace {
            Pace::Idle { .. } if read > 0 => self.pace = Pace::Until { until: now + self.head_timeout },
            Pace::Body { window: Some(window) } => window.bytes += read as u64,
            _ => {}
        }
    }
}

impl Read for PacedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let timeout = self.timeout(Instant::now())?;
            self.stream.set_read_timeout(Some(timeout.max(MIN_TIMEOUT)))?;
            match self.stream.read(buf) {
                Ok(read) => {
                    self.count(read, Instant::now());
                    return Ok(read);
                }
                // the socket timeout ran out: `timeout` decides whether the pace is broken
                Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}

fn timed_out(error: PaceError) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, error)
}

/// The pace error inside an I/O error, if the read gave up for that.
pub fn pace_error(error: &io::Error) -> Option<&PaceError> {
    error.get_ref().and_then(|inner| inner.downcast_ref::<PaceError>())
}

/// Writes all of `bytes` by one deadline (a client that reads its answer a
/// byte a minute would otherwise hold the thread for good).
pub(super) fn write_by(stream: &mut TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    use std::io::Write;
    while !bytes.is_empty() {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| timed_out(PaceError::Deadline))?;
        stream.set_write_timeout(Some(left.max(MIN_TIMEOUT)))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => bytes = &bytes[written..],
            Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    const RATE: MinRate = MinRate { min_bytes: 100, window: Duration::from_millis(300) };

    #[test]
    fn a_window_at_the_minimum_rate_passes_and_one_below_it_is_cut() {
        let (mut client, server) = pair();
        let mut paced = PacedStream::new(server, Pace::Body { window: None }, Duration::from_secs(5), RATE);
        let mut buf = [0u8; 1000];
        client.write_all(&[b'x'; 150]).unwrap();
        assert_eq!(paced.read(&mut buf).unwrap(), 150);
        // the first window ends with 150 bytes: enough, a new window begins
        std::thread::sleep(RATE.window + Duration::from_millis(100));
        client.write_all(&[b'x'; 10]).unwrap();
        assert_eq!(paced.read(&mut buf).unwrap(), 10);
        let started = Instant::now();
        let error = paced.read(&mut buf).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(error.to_string(), "request body slower than 100 bytes per 300ms");
        assert!(started.elapsed() < Duration::from_secs(3), "cut at the end of the window, not later");
    }

    #[test]
    fn the_first_byte_after_an_idle_wait_starts_the_head_deadline() {
        let (mut client, server) = pair();
        let idle = Pace::Idle { until: Instant::now() + Duration::from_secs(30) };
        let mut paced = PacedStream::new(server, idle, Duration::from_millis(200), RATE);
        client.write_all(b"G").unwrap();
        let mut buf = [0u8; 10];
        assert_eq!(paced.read(&mut buf).unwrap(), 1);
        let started = Instant::now();
        let error = paced.read(&mut buf).unwrap_err();
        assert_eq!(pace_error(&error), Some(&PaceError::Deadline));
        assert!(started.elapsed() < Duration::from_secs(5), "the head deadline, not the idle one");
    }
}
