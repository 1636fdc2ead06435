//! Batch payout CSV files for PayPal Payouts and Wise, split by the providers' limits,
//! with cells made safe against CSV injection.
//!
//! Both writers return one [`CsvFile`] per upload, in a deterministic order (by
//! currency or template, then part), each `\r\n`-terminated as spreadsheets write CSV.

mod paypal;
mod wise;

pub use paypal::{PAYPAL_ROWS_MAX, paypal};
pub use wise::{WISE_ROWS_MAX, wise};

use crate::error::WriteError;
use crate::text;
use std::borrow::Cow;

/// One file to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvFile {
    /// Which kind of file: `paypal`, `wise-email` or `wise-recipient-id`.
    pub template: &'static str,
    /// The currency every row of the file pays in (PayPal), or the source currency that
    /// pays for the batch (Wise).
    pub currency: String,
    /// 1-based part number, where one currency or template needed several files.
    pub part: usize,
    /// The item ids of the rows, in order.
    pub item_ids: Vec<String>,
    /// The file's bytes (UTF-8).
    pub content: Vec<u8>,
}

/// Makes a text cell safe to open in a spreadsheet: a cell starting with `=`, `+`, `-`,
/// `@` (or a tab or carriage return, which some spreadsheets skip before reading a
/// formula) is prefixed with `'`, so it is shown as text rather than run as a formula
/// (OWASP, "CSV Injection").
pub fn escape_cell(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Checks an id or e-mail address that must reach the provider unchanged: escaping it
/// would change it, so one that a spreadsheet would run as a formula is refused.
fn check_verbatim(item: &str, field: &str, value: &str) -> Result<(), WriteError> {
    if matches!(escape_cell(value), Cow::Owned(_)) {
        return Err(WriteError::invalid(
            format!("item {item:?} {field}"),
            "must not start with = + - @ (spreadsheets would run it as a formula)",
        ));
    }
    Ok(())
}

/// Checks an item id for a CSV file: the EPC identifier rules (see [`text::check_id`])
/// and nothing a spreadsheet would run.
fn check_item_id(id: &str, max: usize) -> Result<(), WriteError> {
    text::check_id(id, max)
        .map_err(|p| WriteError::invalid(format!("item {id:?} id"), p.describe(max)))?;
    check_verbatim(id, "id", id)
}

/// Writes rows with the csv crate: CRLF line ends, quotes only where needed.
fn to_csv(header: Option<&[&str]>, rows: &[Vec<String>]) -> Vec<u8> {
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .quote_style(::csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    // Writing into a Vec cannot fail, and every row has the header's length, so the
    // csv crate's errors cannot arise; an empty file would be the visible sign if they did.
    if let Some(header) = header {
        let _ = writer.write_record(header);
    }
    for row in rows {
        let _ = writer.write_record(row);
    }
    writer.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        for cell in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(escape_cell(cell), format!("'{cell}"));
        }
        assert_eq!(escape_cell("Ana = 1"), "Ana = 1");
        assert_eq!(escape_cell(""), "");
    }

    #[test]
    fn verbatim_fields_are_refused_rather_than_changed() {
        assert_eq!(
            check_verbatim("a", "email", "-x@example.com")
                .unwrap_err()
                .kind(),
            "invalid-input"
        );
        assert!(check_item_id("PAY-1", 63).is_ok());
        assert!(check_item_id("-PAY", 63).is_err());
        assert!(check_item_id("+PAY", 63).is_err());
    }

    #[test]
    fn csv_quotes_only_where_needed() {
        let rows = vec![vec![
            "a,b".to_owned(),
            "c".to_owned(),
            "say \"hi\"".to_owned(),
        ]];
        assert_eq!(
            to_csv(Some(&["x", "y", "z"]), &rows),
            b"x,y,z\r\n\"a,b\",c,\"say \"\"hi\"\"\"\r\n".to_vec()
        );
    }
}
