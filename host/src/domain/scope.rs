//! Who is asking: what an API key may do.

/// What an API key may do. Commands whose answer depends on the caller (disputes, plug-in
/// registrations, listings) take it, so the rule lives in the engine and not in handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything.
    Admin,
    /// One partner's own data (the partner's id).
    Partner(String),
    /// One program's plug-ins (the program's id).
    PluginAuthor(String),
}

impl Scope {
    /// The scope's stored name: `admin`, `partner` or `plugin_author`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Partner(_) => "partner",
            Self::PluginAuthor(_) => "plugin_author",
        }
    }

    /// The partner of a partner scope.
    pub fn partner_id(&self) -> Option<&str> {
        match self {
            Self::Partner(p) => Some(p),
            _ => None,
        }
    }

    /// The program of a plug-in author scope.
    pub fn program_id(&self) -> Option<&str> {
        match self {
            Self::PluginAuthor(p) => Some(p),
            _ => None,
        }
    }

    /// The scope stored as its name and the two optional ids; `None` when they do not make
    /// one (a partner scope without its partner, an unknown name).
    pub fn from_stored(
        name: &str,
        partner_id: Option<String>,
        program_id: Option<String>,
    ) -> Option<Self> {
        match (name, partner_id, program_id) {
            ("admin", _, _) => Some(Self::Admin),
            ("partner", Some(p), _) => Some(Self::Partner(p)),
            ("plugin_author", _, Some(p)) => Some(Self::PluginAuthor(p)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn a_scope_round_trips_through_its_stored_form() {
        for scope in [
            Scope::Admin,
            Scope::Partner("a".into()),
            Scope::PluginAuthor("p".into()),
        ] {
            let back = Scope::from_stored(
                scope.name(),
                scope.partner_id().map(str::to_owned),
                scope.program_id().map(str::to_owned),
            );
            assert_eq!(back, Some(scope));
        }
        assert_eq!(Scope::from_stored("partner", None, Some("p".into())), None);
        assert_eq!(Scope::from_stored("root", None, None), None);
    }
}
