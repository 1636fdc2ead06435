//! Why a bank's feedback file could not be read.

/// Why a feedback file was refused. Nothing is applied from a file that fails: a
/// half-read report could mark some items and silently miss others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackError {
    /// Not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Xml(String),
    /// XML, but not a `pain.002` status report of a version this reader knows.
    #[error("not a pain.002 status report this reader knows (root namespace {namespace:?})")]
    UnsupportedMessage {
        /// The root element's namespace.
        namespace: String,
    },
    /// A required element is absent.
    #[error("{element} is missing in {context}")]
    Missing {
        /// The element.
        element: &'static str,
        /// Where it was expected.
        context: String,
    },
    /// A status code that is not four capital letters.
    #[error("{code:?} is not an ISO 20022 status code")]
    StatusCode {
        /// The code found.
        code: String,
    },
    /// A CSV that cannot be read, or a row that does not fit its header.
    #[error("line {line}: {message}")]
    Csv {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A return reason code that NACHA does not define.
    #[error("line {line}: {code:?} is not a NACHA return reason code")]
    ReturnCodeUnknown {
        /// 1-based line number.
        line: u64,
        /// The code found.
        code: String,
    },
}

impl FeedbackError {
    /// A stable slug for the failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Xml(_) => "xml-invalid",
            Self::UnsupportedMessage { .. } => "message-unsupported",
            Self::Missing { .. } => "element-missing",
            Self::StatusCode { .. } => "status-code-invalid",
            Self::Csv { .. } => "csv-invalid",
            Self::ReturnCodeUnknown { .. } => "return-code-unknown",
        }
    }
}
