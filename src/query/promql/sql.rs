//! Portable SQL for plans that are pure SQL (todo).
