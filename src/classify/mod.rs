//! Clause classification: encoder token states become per-label probabilities.

pub mod cache;
pub mod card;
pub mod dataset;
pub mod head;
pub mod lexical;
pub mod linear;
pub mod metrics;
pub mod model;
pub mod taxonomy;
pub mod train;
pub mod tuned;
