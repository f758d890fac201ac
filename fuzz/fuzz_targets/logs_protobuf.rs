//! Protobuf bodies: the logs and traces wire walkers (and their prost
//! fallback), and metrics.
#![no_main]
use canardstack_otlp::{decode_with_limits, Compression, DecodeLimits, Format, RequestKind, Signal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::new(1 << 20);
    for signal in [Signal::Logs, Signal::Traces, Signal::Metrics] {
        let kind = RequestKind { signal, format: Format::Protobuf, compression: Compression::None };
        let _ = decode_with_limits(kind, data, &limits);
    }
});
