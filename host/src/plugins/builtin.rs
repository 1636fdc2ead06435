//! The default rule modules the platform team ships, embedded in the binary at build time
//! so a fresh install computes commissions with nothing uploaded.

/// A default rule module.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPlugin {
    /// Its name, e.g. "linear".
    pub name: &'static str,
    /// Its component bytes.
    pub bytes: &'static [u8],
}

/// Every default rule module.
pub fn builtin_plugins() -> impl Iterator<Item = BuiltinPlugin> {
    super::built::DEFAULT_PLUGINS
        .iter()
        .map(|(name, bytes)| BuiltinPlugin { name, bytes })
}
