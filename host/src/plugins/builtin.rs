//! The default rule modules the platform team ships, embedded in the binary at build time
//! so a fresh install computes commissions with nothing uploaded.

/// A default rule module.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPlugin {
    /// Its name, e.g. "linear".
    pub name: &'static str,
    /// The hook it implements (known at build time, so that it can be recorded before
    /// the component is compiled).
    pub world: super::World,
    /// Its component bytes.
    pub bytes: &'static [u8],
}

/// Every default rule module.
pub fn builtin_plugins() -> impl Iterator<Item = BuiltinPlugin> {
    super::built::DEFAULT_PLUGINS
        .iter()
        .map(|(name, world, bytes)| BuiltinPlugin {
            name,
            world: super::World::parse(world).unwrap_or(super::World::Attribution),
            bytes,
        })
}
