//! Reading a NACHA returns list: a CSV that names each returned entry and its R-code.
//!
//! Banks report returns as NACHA return entries (an entry with an addenda 99) inside a
//! returns file, or as a report in their portal; what reaches the payout engine is the
//! list the operator downloads or transcribes. Its format, as this reader takes it: a
//! header row; a `return_code` column (`R01`…`R85`); a `trace_number` column (the 15
//! digits of the original entry), an `individual_id` column (the item id the entry
//! carried), or both; other columns are ignored. Header names are matched without regard
//! to case or surrounding spaces. Each row names its entry by trace number when it has
//! one, else by individual id.

use super::error::FeedbackError;
use super::return_codes::return_code_meaning;
use super::{ItemKey, ItemOutcome, Outcome};

/// Reads a returns list into one [`Outcome::Returned`] per row.
pub fn parse_nacha_returns(csv: &str) -> Result<Vec<ItemOutcome>, FeedbackError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .from_reader(csv.as_bytes());
    let csv_error = |e: ::csv::Error| FeedbackError::Csv {
        line: e.position().map_or(1, |p| p.line()),
        message: e.to_string(),
    };
    let headers = reader.headers().map_err(csv_error)?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (trace, individual) = (column("trace_number"), column("individual_id"));
    let Some(code) = column("return_code") else {
        return Err(FeedbackError::Csv {
            line: 1,
            message: "the header has no return_code column".to_owned(),
        });
    };
    if trace.is_none() && individual.is_none() {
        return Err(FeedbackError::Csv {
            line: 1,
            message: "the header has neither a trace_number nor an individual_id column".to_owned(),
        });
    }
    let mut outcomes = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| p.line());
        let cell = |index: Option<usize>| {
            index
                .and_then(|i| record.get(i))
                .filter(|value| !value.is_empty())
        };
        let key = match (cell(trace), cell(individual)) {
            (Some(trace), _) if trace.len() == 15 && trace.bytes().all(|b| b.is_ascii_digit()) => {
                ItemKey::TraceNumber(trace.to_owned())
            }
            (Some(trace), _) => {
                return Err(FeedbackError::Csv {
                    line,
                    message: format!("{trace:?} is not a trace number (15 digits)"),
                });
            }
            (None, Some(id)) => ItemKey::IndividualId(id.to_owned()),
            (None, None) => {
                return Err(FeedbackError::Csv {
                    line,
                    message: "the row names no entry (no trace_number nor individual_id)"
                        .to_owned(),
                });
            }
        };
        let code = cell(Some(code)).unwrap_or_default().to_ascii_uppercase();
        let Some(meaning) = return_code_meaning(&code) else {
            return Err(FeedbackError::ReturnCodeUnknown { line, code });
        };
        outcomes.push(ItemOutcome {
            key,
            outcome: Outcome::Returned { code, meaning },
        });
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_name_entries_by_trace_or_id() {
        let csv = "Trace_Number, Individual_ID ,return_code,date\n\
                   021000020000001,,R01,2026-12-03\n\
                   ,PAY-0002,r03,2026-12-03\n";
        let outcomes = parse_nacha_returns(csv).unwrap();
        assert_eq!(
            outcomes,
            vec![
                ItemOutcome {
                    key: ItemKey::TraceNumber("021000020000001".into()),
                    outcome: Outcome::Returned {
                        code: "R01".into(),
                        meaning: "Insufficient funds"
                    }
                },
                ItemOutcome {
                    key: ItemKey::IndividualId("PAY-0002".into()),
                    outcome: Outcome::Returned {
                        code: "R03".into(),
                        meaning: "No account, or unable to locate the account"
                    }
                },
            ]
        );
    }

    #[test]
    fn refusals_have_their_kind() {
        let kind = |csv: &str| parse_nacha_returns(csv).unwrap_err().kind();
        assert_eq!(kind("trace_number,code\n1,R01\n"), "csv-invalid");
        assert_eq!(kind("date,return_code\n1,R01\n"), "csv-invalid");
        assert_eq!(kind("trace_number,return_code\n12345,R01\n"), "csv-invalid");
        assert_eq!(
            kind("trace_number,individual_id,return_code\n,,R01\n"),
            "csv-invalid"
        );
        assert_eq!(
            kind("individual_id,return_code\nA,R01,extra\n"),
            "csv-invalid"
        );
        assert_eq!(
            kind("individual_id,return_code\nA,R48\n"),
            "return-code-unknown"
        );
        assert_eq!(
            kind("individual_id,return_code\nA,\n"),
            "return-code-unknown"
        );
    }
}
