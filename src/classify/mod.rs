//! Clause classification: encoder token states become per-label probabilities.

pub mod cache;
pub mod dataset;
pub mod head;
pub mod lexical;
pub mod metrics;
pub mod taxonomy;
pub mod model;
pub mod train;
pub mod card;
