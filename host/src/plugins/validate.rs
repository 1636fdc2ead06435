//! Validation of a component before it is accepted: size, is-a-component, the SDK's WIT
//! version (custom section), imports (only the host `log`), and which hook it exports.

use super::error::ValidationError;
use super::limits::Limits;
use wasmparser::{Parser, Payload};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The WIT major version this host speaks.
pub const SUPPORTED_WIT_MAJOR: u64 = 1;
/// The newest WIT minor version this host speaks (older minors of the same major work).
pub const SUPPORTED_WIT_MINOR: u64 = 0;
/// The custom section the SDK writes its WIT version into.
pub const SDK_VERSION_SECTION: &str = "accrue:sdk-wit-version";

/// The hook a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// `attribution-rule`: splits credit among partners.
    Attribution,
    /// `bonus-rule`: decides tier bonuses.
    Bonus,
    /// `geo-rate-rule`: adjusts rates by geography.
    GeoRate,
}

impl World {
    /// The exported interface's name in the WIT package.
    pub fn interface(self) -> &'static str {
        match self {
            Self::Attribution => "attribution",
            Self::Bonus => "tier-bonus",
            Self::GeoRate => "geo-rate",
        }
    }

    /// A stable short name ("attribution", "bonus", "geo-rate").
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attribution => "attribution",
            Self::Bonus => "bonus",
            Self::GeoRate => "geo-rate",
        }
    }

    /// Parse a short name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Attribution, Self::Bonus, Self::GeoRate]
            .into_iter()
            .find(|w| w.as_str() == text)
    }

    /// The full export name at the version this host implements.
    pub fn export_name(self) -> String {
        format!(
            "accrue:rules/{}@{SUPPORTED_WIT_MAJOR}.{SUPPORTED_WIT_MINOR}.0",
            self.interface()
        )
    }
}

fn supported() -> String {
    format!("{SUPPORTED_WIT_MAJOR}.0.0 to {SUPPORTED_WIT_MAJOR}.{SUPPORTED_WIT_MINOR}.x")
}

fn check_version(version: &str) -> Result<(), ValidationError> {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(SUPPORTED_WIT_MAJOR), Some(minor)) if (0..=SUPPORTED_WIT_MINOR).contains(&minor) => {
            Ok(())
        }
        _ => Err(ValidationError::UnsupportedVersion {
            found: version.to_owned(),
            supported: supported(),
        }),
    }
}

/// The SDK version a section records: exactly one semantic version (`1.0.0`), nothing
/// else. It is echoed back in the plug-in's record, so free text is refused rather than
/// stored.
fn sdk_section_version(data: &[u8]) -> Result<String, ValidationError> {
    let shown = |text: &str| {
        let cut: String = text.chars().take(40).collect();
        format!("{cut:?}")
    };
    let text = std::str::from_utf8(data)
        .map_err(|_| ValidationError::BadSdkSection("is not UTF-8 text".into()))?
        .trim();
    semver::Version::parse(text)
        .map(|v| v.to_string())
        .map_err(|e| {
            ValidationError::BadSdkSection(format!(
                "holds {}, which is not a semantic version such as 1.0.0 ({e})",
                shown(text)
            ))
        })
}

/// Checks that need no compilation: size, binary kind, and the SDK version section.
/// Returns the SDK version the component records, if any.
pub(super) fn precheck(bytes: &[u8], limits: &Limits) -> Result<Option<String>, ValidationError> {
    if bytes.len() > limits.component_bytes {
        return Err(ValidationError::TooLarge {
            size: bytes.len(),
            limit: limits.component_bytes,
        });
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(ValidationError::NotWasm(
            "it does not start with the `\\0asm` magic".into(),
        ));
    }
    if Parser::is_core_wasm(bytes) {
        return Err(ValidationError::CoreModule);
    }
    if !Parser::is_component(bytes) {
        return Err(ValidationError::NotWasm(
            "unknown WebAssembly version or layer".into(),
        ));
    }
    let mut sdk_version: Option<String> = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| ValidationError::Invalid(e.to_string()))?;
        if let Payload::CustomSection(section) = payload
            && section.name() == SDK_VERSION_SECTION
        {
            let version = sdk_section_version(section.data())?;
            check_version(&version)?;
            match &sdk_version {
                Some(earlier) if *earlier != version => {
                    return Err(ValidationError::BadSdkSection(format!(
                        "appears more than once, with {earlier} and {version}"
                    )));
                }
                _ => sdk_version = Some(version),
            }
        }
    }
    Ok(sdk_version)
}

/// Checks on the compiled component's type: imports and the exported hook.
/// Returns the hook and the WIT version it was built against.
pub(super) fn inspect(
    engine: &Engine,
    component: &Component,
) -> Result<(World, String), ValidationError> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        let allowed = ["accrue:rules/host@", "accrue:rules/types@"]
            .iter()
            .find_map(|prefix| name.strip_prefix(prefix));
        match allowed {
            Some(version) => check_version(version)?,
            None => return Err(ValidationError::ForbiddenImport(name.to_owned())),
        }
    }
    let mut found = Vec::new();
    let mut names = Vec::new();
    for (name, _) in ty.exports(engine) {
        names.push(name.to_owned());
        for world in [World::Attribution, World::Bonus, World::GeoRate] {
            let prefix = format!("accrue:rules/{}@", world.interface());
            if let Some(version) = name.strip_prefix(&prefix) {
                found.push((world, version.to_owned()));
            }
        }
    }
    match found.as_slice() {
        [] if names.is_empty() => Err(ValidationError::UnknownWorld("nothing".into())),
        [] => Err(ValidationError::UnknownWorld(names.join(", "))),
        [(world, version)] => {
            check_version(version)?;
            Ok((*world, version.clone()))
        }
        many => Err(ValidationError::AmbiguousWorld(
            many.iter()
                .map(|(w, _)| w.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_the_same_major_up_to_our_minor_are_supported() {
        assert!(check_version("1.0.0").is_ok());
        assert!(check_version("1.0.7").is_ok());
        assert!(check_version("1.1.0").is_err());
        assert!(check_version("2.0.0").is_err());
        assert!(check_version("garbage").is_err());
    }

    #[test]
    fn the_sdk_section_must_be_one_semantic_version() {
        assert_eq!(sdk_section_version(b"1.0.0").expect("ok"), "1.0.0");
        assert_eq!(sdk_section_version(b" 1.0.3\n").expect("ok"), "1.0.3");
        for bad in [
            &b"1.0.<script>alert(1)</script>"[..],
            b"1.0",
            b"",
            b"v1.0.0",
            b"\xff\xfe",
        ] {
            assert_eq!(
                sdk_section_version(bad).expect_err("refused").kind(),
                "plugin-bad-sdk-section"
            );
        }
    }

    #[test]
    fn prechecks_reject_by_kind() {
        let limits = Limits {
            component_bytes: 16,
            ..Limits::default()
        };
        assert_eq!(
            precheck(&[0u8; 17], &limits).unwrap_err().kind(),
            "plugin-too-large"
        );
        assert_eq!(
            precheck(b"hello", &limits).unwrap_err().kind(),
            "plugin-not-wasm"
        );
        let core = b"\0asm\x01\0\0\0";
        assert_eq!(
            precheck(core, &limits).unwrap_err().kind(),
            "plugin-core-module"
        );
    }
}
