//! E-mail addresses of PayPal and Wise recipients: a pragmatic check, not RFC 5322.

use super::error::AccountError;
use email_address::{EmailAddress, Options};

/// Validates an e-mail address and returns it trimmed, with its domain in lower case.
///
/// The `email_address` crate checks the syntax, with a dotted domain required and no
/// `[1.2.3.4]` literals or `Name <a@b>` display text. On top of that, only printable ASCII
/// without quotes: PayPal and Wise accept neither quoted local parts nor international
/// addresses in batch files, and refusing them here beats a rejected upload.
pub fn validate_email(email: &str) -> Result<String, AccountError> {
    let trimmed = email.trim();
    let invalid = || AccountError::EmailInvalid {
        email: trimmed.to_owned(),
    };
    // 254: the longest address that fits SMTP's 256-octet path (RFC 5321 errata 1690).
    if trimmed.len() > 254 || !trimmed.chars().all(|c| c.is_ascii_graphic() && c != '"') {
        return Err(invalid());
    }
    let options = Options::default()
        .with_minimum_sub_domains(2)
        .without_domain_literal()
        .without_display_text();
    let parsed = EmailAddress::parse_with_options(trimmed, options).map_err(|_| invalid())?;
    Ok(format!(
        "{}@{}",
        parsed.local_part(),
        parsed.domain().to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(
            validate_email(" Ana.Lopez+payouts@Example.COM ").unwrap(),
            "Ana.Lopez+payouts@example.com"
        );
    }

    #[test]
    fn refuses_with_its_kind() {
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "ana lopez@example.com",
            "\"ana\"@example.com",
            "ana@[192.0.2.1]",
            "Ana <ana@example.com>",
            "ana@exämple.com",
        ] {
            assert_eq!(
                validate_email(bad).unwrap_err().kind(),
                "email-invalid",
                "{bad}"
            );
        }
    }
}
