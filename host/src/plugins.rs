//! The WebAssembly plug-in runtime: validates, compiles, caches and runs rule components.
//!
//! One wasmtime [`Engine`](wasmtime::Engine) with the pooling allocator; each component is
//! compiled once and addressed by its sha256 digest; every evaluation gets a fresh `Store`
//! (no state leaks between tenants or calls) with fuel, an epoch deadline, a memory and
//! table cap, and caps on input, output and log bytes. Every failure comes back as an
//! [`EvalError`] naming the plug-in and the limit or trap that ended it.

mod bindings;
mod builtin;
mod compile;
mod contract;
mod convert;
mod error;
mod hash;
mod limits;
mod runtime;
mod sandbox;
mod validate;

#[cfg(test)]
mod tests;

pub use builtin::{BuiltinPlugin, builtin_plugins};
pub use compile::{CompileMode, compile_worker, default_artifact_dir};
pub use error::{CompileLimitKind, EvalError, Failure, LimitKind, ValidationError};
pub use hash::{Digest, InputHasher};
pub use limits::Limits;
pub use runtime::{
    ComponentInfo, ComponentStatus, Runtime, RuntimeMetrics, attribution_input_hash,
};
pub use validate::{SUPPORTED_WIT_MAJOR, SUPPORTED_WIT_MINOR, World};

/// Paths of every component the build produced, default modules, fixtures and examples
/// alike (for tests and tools; the default modules' bytes are embedded via [`builtin_plugins`]).
pub mod built {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}
