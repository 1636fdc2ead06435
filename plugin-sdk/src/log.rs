//! Logging through the host. Inside the sandbox each line goes to the host's `log` import
//! (capped per message and per evaluation by the host); in native unit tests it goes to
//! standard error so tests can run without a host.

/// The severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal information.
    Info,
    /// Something unexpected.
    Warn,
    /// A failure.
    Error,
}

/// Write one line to the host's log.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::__private::host_log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[plug-in {level:?}] {message}");
}

/// Log at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Log at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Log at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}
