//! Errors of the plug-in runtime. Each names the plug-in (digest, and name/version where
//! known) and which limit, trap or contract breach ended the call.

use super::hash::Digest;
use accrue_plugin_sdk::RuleError;
use std::fmt;

/// Why a component was refused at upload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Over the size limit.
    #[error("component is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not WebAssembly at all.
    #[error("not a WebAssembly binary: {0}")]
    NotWasm(String),
    /// A core module, not a component.
    #[error(
        "this is a core WebAssembly module, not a component; build the plug-in with the \
         Accrue SDK for wasm32-unknown-unknown and turn it into a component with wit-component"
    )]
    CoreModule,
    /// Malformed or failed to compile.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// Imports something other than the host's `log` (and the shared types).
    #[error(
        "imports `{0}`; a plug-in may import only `accrue:rules/host` (log), no WASI or anything else"
    )]
    ForbiddenImport(String),
    /// Exports none of the known hooks.
    #[error(
        "exports none of the Accrue hooks (attribution, tier-bonus, geo-rate); it exports: {0}"
    )]
    UnknownWorld(String),
    /// Exports more than one hook.
    #[error("exports more than one hook ({0}); a plug-in exports exactly one")]
    AmbiguousWorld(String),
    /// Built against a WIT version this host does not support.
    #[error("built for accrue:rules@{found}; this host supports {supported}")]
    UnsupportedVersion {
        /// The version the component declares.
        found: String,
        /// What the host accepts.
        supported: String,
    },
    /// The SDK's version section is there but is not one semantic version.
    #[error("the `accrue:sdk-wit-version` section {0}")]
    BadSdkSection(String),
    /// Compiling it went past a limit.
    #[error("compiling it went past the {} limit: {detail}", limit.as_str())]
    CompileLimit {
        /// Which limit.
        limit: CompileLimitKind,
        /// Detail (amounts).
        detail: String,
    },
}

/// A limit on compiling a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompileLimitKind {
    /// Wall-clock (and CPU) time.
    Time,
    /// Memory.
    Memory,
}

impl CompileLimitKind {
    /// A stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Time => "compile time",
            Self::Memory => "compile memory",
        }
    }
}

impl ValidationError {
    /// A stable slug for this rejection (the problem `type` of the HTTP API).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "plugin-too-large",
            Self::NotWasm(_) => "plugin-not-wasm",
            Self::CoreModule => "plugin-core-module",
            Self::Invalid(_) => "plugin-invalid",
            Self::ForbiddenImport(_) => "plugin-forbidden-import",
            Self::UnknownWorld(_) => "plugin-unknown-world",
            Self::AmbiguousWorld(_) => "plugin-ambiguous-world",
            Self::UnsupportedVersion { .. } => "plugin-unsupported-version",
            Self::BadSdkSection(_) => "plugin-bad-sdk-section",
            Self::CompileLimit { .. } => "plugin-compile-limit",
        }
    }
}

/// A limit a plug-in can run into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// The instruction budget.
    Fuel,
    /// The wall-clock backstop.
    Deadline,
    /// The linear-memory cap.
    Memory,
    /// The table cap.
    Table,
    /// The wasm stack.
    Stack,
    /// The input size cap (checked before the call).
    Input,
    /// The output size cap.
    Output,
    /// The log-bytes cap.
    Log,
}

impl LimitKind {
    /// A stable name, used in metrics and error types.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fuel => "fuel",
            Self::Deadline => "deadline",
            Self::Memory => "memory",
            Self::Table => "table",
            Self::Stack => "stack",
            Self::Input => "input",
            Self::Output => "output",
            Self::Log => "log",
        }
    }
}

/// What went wrong in one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No component with this digest is registered.
    NotFound,
    /// The component exports another hook than the one called.
    WrongWorld {
        /// The hook called.
        expected: &'static str,
        /// The hook it exports.
        actual: &'static str,
    },
    /// A limit stopped it.
    Limit {
        /// Which one.
        limit: LimitKind,
        /// Detail (amounts).
        detail: String,
    },
    /// It trapped (panic, unreachable, bad memory access...).
    Trap {
        /// The trap.
        trap: String,
        /// The last thing it logged (the SDK logs the panic message before trapping).
        last_log: Option<String>,
    },
    /// It answered with a rule error.
    Declined(RuleError),
    /// Its answer breaks the hook's contract.
    Contract(String),
    /// The host could not instantiate it (e.g. every pool slot busy).
    Instantiate(String),
    /// It is still being compiled (after an upload or a restart); ask again shortly.
    NotReady,
    /// It could not be compiled by this host (it was accepted by another configuration or
    /// version): nothing can run it until an operator acts.
    Unavailable(String),
    /// It kept running into its resource limits, so its evaluations for this program are
    /// suspended for a while (not run at all).
    Suspended {
        /// Seconds until it may be tried again.
        retry_after_s: u64,
    },
}

impl Failure {
    /// A stable slug for metrics and problem types.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound => "not-found",
            Self::WrongWorld { .. } => "wrong-world",
            Self::Limit { limit, .. } => limit.as_str(),
            Self::Trap { .. } => "trap",
            Self::Declined(_) => "declined",
            Self::Contract(_) => "contract",
            Self::Instantiate(_) => "instantiate",
            Self::NotReady => "not-ready",
            Self::Unavailable(_) => "unavailable",
            Self::Suspended { .. } => "suspended",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => write!(f, "no such plug-in is registered"),
            Self::WrongWorld { expected, actual } => {
                write!(f, "called as {expected} but it exports {actual}")
            }
            Self::Limit { limit, detail } => {
                write!(f, "{} limit exceeded: {detail}", limit.as_str())
            }
            Self::Trap { trap, last_log } => match last_log {
                Some(log) => write!(f, "trapped: {trap} (last log: {log})"),
                None => write!(f, "trapped: {trap}"),
            },
            Self::Declined(e) => write!(f, "declined: {e}"),
            Self::Contract(m) => write!(f, "broke the contract: {m}"),
            Self::Instantiate(m) => write!(f, "could not be instantiated: {m}"),
            Self::NotReady => write!(f, "is still being compiled; try again shortly"),
            Self::Unavailable(m) => write!(f, "cannot be compiled by this host: {m}"),
            Self::Suspended { retry_after_s } => write!(
                f,
                "is suspended for this program after repeatedly running into its resource \
                 limits; it will be tried again in {retry_after_s} s"
            ),
        }
    }
}

/// A failed evaluation: which plug-in, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plug-in {digest}{label}: {failure}")]
pub struct EvalError {
    /// The plug-in's digest.
    pub digest: Digest,
    /// " (name@version)" where known, else empty.
    pub label: String,
    /// What went wrong.
    pub failure: Failure,
}
