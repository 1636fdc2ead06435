//! End-to-end tests: the real `accrue` binary on an ephemeral port, against a fresh
//! PostgreSQL database (and SQLite for the smoke path), driven over real HTTP.
//! One test binary, so the world is built once.

mod analytics;
mod contract;
mod dashboard;
mod edge;
mod integrity;
mod isolation;
mod money;
mod payout_crash;
mod payout_profiles;
mod payouts;
mod rejections;
mod replicas;
mod sandbox;
mod story;
mod support;
