//! Every codec on arbitrary bytes: no panic, output within the bound.
#![no_main]
use canardstack_otlp::{decompress, Compression};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&limit, body)) = data.split_first() else { return };
    let limit = usize::from(limit) * 64;
    for codec in [Compression::None, Compression::Gzip, Compression::Deflate, Compression::Zstd] {
        if let Ok(out) = decompress(codec, body, limit) {
            assert!(out.len() <= limit);
        }
    }
});
