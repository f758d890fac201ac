//! LogQL: parse (text -> [`ast::Query`]), plan (typed tree -> DuckDB SQL for
//! what DuckDB filters best, plus a residual pipeline), run the residual
//! pipeline over the rows in Rust ([`pipeline`]), and evaluate metric queries
//! over the resulting samples ([`eval`]). Only `plan` knows about tables; only
//! `parser` knows about text.

pub mod ast;
pub mod engine;
pub mod eval;
mod lexer;
pub mod model;
pub mod parser;
pub mod pattern;
pub mod pipeline;
pub mod plan;
pub mod portable;
pub mod resolution;
pub mod template;
pub mod units;
pub mod volumes;

#[cfg(test)]
mod hostile_tests;
