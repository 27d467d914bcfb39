//! TermScore turns contract files into scored reports.
//!
//! The module tree is the pipeline: [`read`] turns a file into document text with
//! blocks, [`segment`] splits it into clauses, [`encode`] runs the transformer
//! encoder, [`classify`] labels each clause, [`score`] weighs the labels for one
//! side of the contract and [`report`] renders the result.

pub mod classify;
pub mod encode;
pub mod exit;
pub mod read;
pub mod report;
pub mod score;
pub mod segment;
