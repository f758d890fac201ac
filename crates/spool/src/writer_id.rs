//! The spool's writer id: a random-looking name that identifies this spool's
//! sequence space (checkpoints in the lake are keyed by it), created once and
//! then read back on every open. It is 128 bits from two std hashers with
//! per-process random keys over the time, the pid and a counter, which is enough
//! to tell spools apart without a UUID crate.

use std::collections::hash_map::RandomState;
use std::fs::{self, File};
use std::hash::{BuildHasher, Hash};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::{IoContext, SpoolError};
use super::segment::sync_dir;

const FILE_NAME: &str = "writer_id";
const ID_LEN: usize = 32;

pub fn load_or_create(dir: &Path) -> Result<String, SpoolError> {
    let path = dir.join(FILE_NAME);
    match fs::read_to_string(&path) {
        Ok(text) => validate(text.trim_end()).map(str::to_string),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create(dir),
        Err(error) => Err(SpoolError::io(format!("read {}", path.display()), error)),
    }
}

fn validate(id: &str) -> Result<&str, SpoolError> {
    let well_formed = id.len() == ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if well_formed {
        Ok(id)
    } else {
        Err(SpoolError::Corrupt(format!("{FILE_NAME} is not {ID_LEN} lowercase hex characters: {id:?}")))
    }
}

/// Writes the id to a temporary file and renames it into place, so a crash
/// leaves either no id or a complete one.
fn create(dir: &Path) -> Result<String, SpoolError> {
    let id = generate();
    let temporary = dir.join(format!("{FILE_NAME}.tmp"));
    let final_path = dir.join(FILE_NAME);
    File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(format!("{id}\n").as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temporary, &final_path))
        .context(|| format!("create {}", final_path.display()))?;
    sync_dir(dir)?;
    Ok(id)
}

fn generate() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
    let inputs = (nanos, std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}{:016x}", keyed_hash(&inputs), keyed_hash(&inputs))
}

/// Every `RandomState` has distinct keys (seeded randomly per thread), so two
/// calls give unrelated halves.
fn keyed_hash(inputs: &impl Hash) -> u64 {
    RandomState::new().hash_one(inputs)
}
