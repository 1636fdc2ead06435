//! Accrue: a commission engine for affiliate and partner revenue sharing.
//!
//! Dependencies point inward: [`http`] → `engine` → `domain`; `engine` → [`plugins`]
//! (the Wasm runtime) and `store`. See `docs/ARCHITECTURE.md` for the map.

#![deny(unsafe_code)]

pub mod cli;
pub mod domain;
pub mod engine;
pub mod http;
pub mod ids;
pub mod plugins;
pub mod server;
pub mod store;
pub mod testing;
