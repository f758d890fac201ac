//! The commit gate: DuckLake refuses to commit a DELETE from a table another
//! transaction inserted into meanwhile, so the writer's commits and the
//! maintenance statements that delete (retention, orphaned files) take turns.
//! Merges and inlined-data flushes commit beside the writer without it.

use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
pub struct CommitGate {
    turn: Mutex<()>,
}

impl CommitGate {
    /// Waits for the turn; it ends when the guard drops.
    pub fn enter(&self) -> MutexGuard<'_, ()> {
        // the guarded state is the lake, not this unit value: a panicking holder poisons nothing
        self.turn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
