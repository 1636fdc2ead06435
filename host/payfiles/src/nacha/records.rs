//! The fixed-width NACHA records, field by field (positions as in the NACHA Operating
//! Rules' record layouts), and the control totals.

use super::check::{Batch, Entry, Plan};
use super::{BLOCKING_FACTOR, RECORD_LEN, TraceNumber, Written};

/// Service class 220: a batch of credits only.
const CREDITS_ONLY: &str = "220";

pub(super) fn render(plan: &Plan) -> Written {
    let mut records = vec![file_header(plan)];
    let mut trace_numbers = Vec::new();
    let mut sequence = 0_u32;
    let (mut entry_count, mut hash_sum, mut credit_cents) = (0_usize, 0_u64, 0_i128);
    for (index, batch) in plan.batches.iter().enumerate() {
        let number = index + 1;
        records.push(batch_header(plan, batch, number));
        for entry in &batch.entries {
            sequence += 1;
            let trace = format!("{}{sequence:07}", plan.odfi);
            records.push(entry_detail(entry, &trace));
            trace_numbers.push(TraceNumber {
                item_id: entry.item_id.clone(),
                trace_number: trace,
            });
        }
        let control = Control::of(&batch.entries);
        records.push(batch_control(plan, &control, number));
        entry_count += control.entry_count;
        hash_sum += control.hash_sum;
        credit_cents += control.credit_cents;
    }
    let total = Control {
        entry_count,
        hash_sum,
        credit_cents,
    };
    // The file control counts itself in the block count.
    let blocks = (records.len() + 1).div_ceil(BLOCKING_FACTOR);
    records.push(file_control(plan.batches.len(), blocks, &total));
    while records.len() % BLOCKING_FACTOR != 0 {
        records.push("9".repeat(RECORD_LEN));
    }
    let mut text = String::with_capacity(records.len() * (RECORD_LEN + 1));
    for record in records {
        debug_assert_eq!(record.len(), RECORD_LEN, "{record}");
        text.push_str(&record);
        text.push('\n');
    }
    Written {
        text,
        trace_numbers,
    }
}

/// A batch's or the file's control figures.
pub(super) struct Control {
    pub entry_count: usize,
    /// Sum of the receiving banks' 8-digit identifications, before truncation.
    pub hash_sum: u64,
    pub credit_cents: i128,
}

impl Control {
    pub(super) fn of(entries: &[Entry]) -> Self {
        Self {
            entry_count: entries.len(),
            hash_sum: entries.iter().map(|e| rdfi(&e.routing)).sum(),
            credit_cents: entries.iter().map(|e| e.cents).sum(),
        }
    }

    /// The entry hash field: the rightmost 10 digits of the sum.
    pub(super) fn entry_hash(&self) -> u64 {
        self.hash_sum % 10_000_000_000
    }
}

/// The receiving bank's identification: the routing number's first 8 digits.
fn rdfi(routing: &str) -> u64 {
    routing[..8].parse().unwrap_or(0)
}

fn file_header(plan: &Plan) -> String {
    [
        "1",
        "01", // priority code
        &plan.immediate_destination,
        &plan.immediate_origin,
        &plan.created_at.format("%y%m%d").to_string(),
        &plan.created_at.format("%H%M").to_string(),
        &plan.file_id_modifier.to_string(),
        "094", // record size
        "10",  // blocking factor
        "1",   // format code
        &alpha(&plan.immediate_destination_name, 23),
        &alpha(&plan.immediate_origin_name, 23),
        &alpha(&plan.reference_code, 8),
    ]
    .concat()
}

fn batch_header(plan: &Plan, batch: &Batch, number: usize) -> String {
    [
        "5",
        CREDITS_ONLY,
        &alpha(&plan.company_name, 16),
        &alpha("", 20), // company discretionary data
        &alpha(&plan.company_id, 10),
        batch.sec.code(),
        &alpha(&plan.entry_description, 10),
        &alpha("", 6), // company descriptive date
        &batch.effective_date.format("%y%m%d").to_string(),
        &alpha("", 3), // settlement date: the ACH operator fills it in
        "1",           // originator status code: a depository financial institution
        &plan.odfi,
        &numeric(number as u128, 7),
    ]
    .concat()
}

fn entry_detail(entry: &Entry, trace: &str) -> String {
    [
        "6",
        &entry.transaction_code.to_string(),
        &entry.routing, // receiving DFI identification (8) and check digit (1)
        &alpha(&entry.account, 17),
        &numeric(entry.cents.unsigned_abs(), 10),
        &alpha(&entry.item_id, 15),
        &alpha(&entry.name, 22),
        "  ", // discretionary data
        "0",  // no addenda
        trace,
    ]
    .concat()
}

fn batch_control(plan: &Plan, control: &Control, number: usize) -> String {
    [
        "8",
        CREDITS_ONLY,
        &numeric(control.entry_count as u128, 6),
        &numeric(u128::from(control.entry_hash()), 10),
        &numeric(0, 12), // total debits
        &numeric(control.credit_cents.unsigned_abs(), 12),
        &alpha(&plan.company_id, 10),
        &alpha("", 19), // message authentication code
        &alpha("", 6),  // reserved
        &plan.odfi,
        &numeric(number as u128, 7),
    ]
    .concat()
}

fn file_control(batch_count: usize, blocks: usize, total: &Control) -> String {
    [
        "9",
        &numeric(batch_count as u128, 6),
        &numeric(blocks as u128, 6),
        &numeric(total.entry_count as u128, 8),
        &numeric(u128::from(total.entry_hash()), 10),
        &numeric(0, 12), // total debits
        &numeric(total.credit_cents.unsigned_abs(), 12),
        &alpha("", 39), // reserved
    ]
    .concat()
}

/// Left-justified, space-padded, cut to `width` (callers have already cut; this keeps
/// the record width exact whatever happens).
fn alpha(text: &str, width: usize) -> String {
    format!("{:<width$.width$}", text)
}

/// Right-justified, zero-padded. Callers have checked the value fits.
fn numeric(value: u128, width: usize) -> String {
    format!("{value:0width$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(routing: &str, cents: i128) -> Entry {
        Entry {
            item_id: "X".into(),
            transaction_code: 22,
            routing: routing.into(),
            account: "1234".into(),
            cents,
            name: "N".into(),
        }
    }

    #[test]
    fn entry_hash_is_the_rightmost_ten_digits_of_the_rdfi_sum() {
        // By hand: 02100002 + 01100001 + 32227162 = 35427165.
        let control = Control::of(&[
            entry("021000021", 100),
            entry("011000015", 250),
            entry("322271627", 5),
        ]);
        assert_eq!(control.hash_sum, 35_427_165);
        assert_eq!(control.entry_hash(), 35_427_165);
        assert_eq!(control.credit_cents, 355);
        assert_eq!(control.entry_count, 3);
        // 2,000 entries at 99999999: 199,999,998,000, which needs 12 digits; the field
        // keeps the rightmost 10.
        let many: Vec<Entry> = (0..2000).map(|_| entry("999999990", 1)).collect();
        let control = Control::of(&many);
        assert_eq!(control.hash_sum, 199_999_998_000);
        assert_eq!(control.entry_hash(), 9_999_998_000);
    }

    #[test]
    fn fields_pad_and_cut() {
        assert_eq!(alpha("AB", 4), "AB  ");
        assert_eq!(alpha("ABCDEF", 4), "ABCD");
        assert_eq!(numeric(42, 6), "000042");
    }
}
