//! Time constants. Plug-ins have no clock: every instant arrives as milliseconds since the
//! Unix epoch in the input.

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;
