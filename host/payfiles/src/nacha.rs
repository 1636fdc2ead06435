//! ACH credits as a NACHA file: a file header (1), one batch per (effective date, SEC
//! code) — PPD for individuals, CCD for companies — each with its batch header (5), entry
//! details (6) and batch control (8), then the file control (9), in 94-character
//! records padded with lines of `9` to a multiple of ten (blocking factor 10).
//!
//! Credits only (service class 220, transaction codes 22 checking / 32 savings), no
//! addenda. Trace numbers are the ODFI's 8 digits and a 7-digit sequence in file order;
//! [`write()`] returns them beside the text so returns can be matched. The caller gives
//! the creation date and time and the file id modifier, so the same [`File`] always
//! gives the same bytes. Records end with `\n`.

mod check;
mod records;

use crate::error::WriteError;
use crate::item::Item;
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// Every NACHA record is this long.
pub const RECORD_LEN: usize = 94;

/// Records per block; the file is padded to whole blocks.
pub const BLOCKING_FACTOR: usize = 10;

/// A NACHA file to write: who sends it to whom, the originating company, and the
/// credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// Routing number of the bank (or ACH operator) the file is sent to.
    pub immediate_destination: String,
    /// That bank's name (cut to 23 characters).
    pub immediate_destination_name: String,
    /// Who sends the file, as the bank assigned it: a 9-digit routing number or 10
    /// characters (often `1` and the company's EIN).
    pub immediate_origin: String,
    /// The sender's name (cut to 23 characters).
    pub immediate_origin_name: String,
    /// File creation date and time, in the time zone the bank expects (usually its own).
    pub created_at: NaiveDateTime,
    /// `A`–`Z` or `0`–`9`: tells apart files created the same day.
    pub file_id_modifier: char,
    /// Free reference for the sender (cut to 8 characters; may be empty).
    pub reference_code: String,
    /// The originating company's name, as the payee will see it (cut to 16).
    pub company_name: String,
    /// The company identification the bank assigned (1 to 10 characters, often `1` and
    /// the EIN).
    pub company_id: String,
    /// Routing number of the originating bank (ODFI); its first 8 digits head every
    /// trace number.
    pub odfi_routing: String,
    /// Company entry description shown to payees, such as `PAYOUT` (cut to 10).
    pub entry_description: String,
    /// Effective entry date of items that do not name their own.
    pub effective_date: NaiveDate,
    /// The credits, each paid by [`Method::Ach`](crate::Method::Ach) in USD; their ids
    /// (at most 15 characters, upper case) become individual identification numbers.
    pub items: Vec<Item>,
}

/// A written NACHA file and the trace number given to each item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file's text: `\n`-terminated 94-character records, padded to whole blocks.
    pub text: String,
    /// Each item's trace number, in file order.
    pub trace_numbers: Vec<TraceNumber>,
}

/// The trace number an entry was written with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceNumber {
    /// The item's id.
    pub item_id: String,
    /// 15 digits: the ODFI's first 8 digits and a sequence number.
    pub trace_number: String,
}

/// Writes `file` after checking it: a non-USD item, a method other than ACH, an invalid
/// routing or account number, an amount over $99,999,999.99 (the entry's 10-digit
/// field) or totals over the control records' 12 digits, a duplicate or malformed id:
/// each is refused with its own [`WriteError`].
pub fn write(file: &File) -> Result<Written, WriteError> {
    let plan = check::check(file)?;
    Ok(records::render(&plan))
}
