//! Engine errors, each with a stable kind the API maps to a problem type.

use crate::domain::DomainError;
use crate::plugins::EvalError;
use crate::store::StoreError;

/// Why the engine refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A domain rule was broken (currency, amount, rate, FX...).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// No such program.
    #[error("unknown program {0:?}")]
    UnknownProgram(String),
    /// No such partner.
    #[error("unknown partner {0:?}")]
    UnknownPartner(String),
    /// A touchpoint names a partner of another program.
    #[error("partner {partner:?} is not in program {program:?}")]
    PartnerOutsideProgram {
        /// The partner.
        partner: String,
        /// The program.
        program: String,
    },
    /// An idempotency key was used before with a different payload; says which key
    /// (`conversion "o1"`, `idempotency key "k1"`).
    #[error("{0} was already posted with a different payload")]
    IdempotencyConflict(String),
    /// The caller's scope does not allow this operation at all (what it may not see is
    /// answered [`EngineError::NotFound`] instead, so nothing leaks).
    #[error("{0}")]
    Forbidden(String),
    /// Something does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A request that conflicts with the current state (refund too large, dispute closed...).
    #[error("{0}")]
    Conflict(String),
    /// An uploaded component was refused (not a component, wrong imports, too large...).
    #[error(transparent)]
    Rejected(crate::plugins::ValidationError),
    /// A plug-in failed this evaluation.
    #[error(transparent)]
    Plugin(#[from] EvalError),
    /// A payout method, tax profile or withholding rule was refused: each reason its own
    /// kind (`iban-checksum`, `tin-invalid`, ...), with the field at fault.
    #[error(transparent)]
    Profile(#[from] super::ProfileError),
    /// No `ACCRUE_SECRETS_KEY` is configured, so secrets at rest cannot be sealed or opened.
    #[error(
        "payout methods and tax identification numbers are stored sealed, and this service has \
         no key: set ACCRUE_SECRETS_KEY"
    )]
    SecretsKeyMissing,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A request the engine refuses for a reason with its own problem type (a payout
    /// schedule that does not hold together, a tax year that is not one...): 422.
    #[error("{message}")]
    Invalid {
        /// The problem type's slug.
        kind: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A fault inside the service (not the request's): answered 500, detail logged only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// A stable slug for the problem `type`: the one place an engine error gets its kind
    /// (the HTTP layer adds status, title and field, never another kind).
    pub fn kind(&self) -> &'static str {
        use crate::plugins::Failure;
        match self {
            Self::Domain(e) => e.kind(),
            Self::UnknownProgram(_) => "unknown-program",
            Self::UnknownPartner(_) => "unknown-partner",
            Self::PartnerOutsideProgram { .. } => "partner-outside-program",
            Self::IdempotencyConflict(_) => "idempotency-conflict",
            Self::NotFound(_) => "not-found",
            Self::Conflict(_) => "conflict",
            Self::Forbidden(_) => "forbidden",
            Self::Invalid { kind, .. } => kind,
            Self::Rejected(v) => v.kind(),
            Self::Plugin(p) => match p.failure {
                Failure::NotReady => "plugin-not-ready",
                Failure::Instantiate(_) => "plugin-busy",
                Failure::Suspended { .. } => "plugin-suspended",
                Failure::Unavailable(_) => "plugin-unavailable",
                _ => "plugin-failed",
            },
            Self::Profile(p) => p.kind,
            Self::SecretsKeyMissing => "secrets-key-missing",
            Self::Store(StoreError::Conflict(_)) => "conflict",
            Self::Store(StoreError::MissingReference(_)) => "missing-reference",
            Self::Store(_) | Self::Internal(_) => "internal",
        }
    }
}
