//! A report table and its two renderings, CSV and XLSX, as pure code (bytes in memory, no
//! I/O).
//!
//! A [`Table`] is a title, column names and rows of typed [`Cell`]s. Every row is as wide
//! as the columns: [`Table::push`] pads a short row with [`Cell::Empty`] and treats a long
//! one as a bug (a debug assertion; a release build drops the surplus cells so the output
//! stays rectangular). The renderers apply the same rule to rows put into [`Table::rows`]
//! directly.
//!
//! # What a cell becomes
//!
//! | cell | CSV and XLSX text |
//! | --- | --- |
//! | `Text` | as given, defused (below) |
//! | `Integer` | decimal digits; in XLSX a number when Excel holds it exactly (below) |
//! | `Money` | the amount's `Decimal` text at the scale it carries (`-12.30`), never re-rounded; the currency is not written into the cell |
//! | `Decimal` | its `Decimal` text (`0.075`) |
//! | `Instant` | RFC 3339 UTC with milliseconds, `2026-03-10T12:00:00.000Z` |
//! | `Date` | `YYYY-MM-DD` |
//! | `Empty` | nothing |
//!
//! A money cell holds the amount alone, so that it stays one plain number a spreadsheet
//! can sort and sum; a report that shows money puts the currency in a column of its own
//! (a `Text` cell beside the amount).
//!
//! # Formula injection
//!
//! A spreadsheet that opens a CSV file runs a cell that starts with `=`, `+`, `-` or `@`
//! as a formula (`=HYPERLINK(...)`, `@SUM(A1)`, `-2+3`), and some skip a leading tab or
//! carriage return before looking for one. Following OWASP ("CSV Injection"), every
//! rendered field that starts with one of those six characters is prefixed with a single
//! quote `'`, which makes it text. That covers text cells, column names, and a date or an
//! instant outside the years 0–9999 (`-0001-01-01`, `+10000-01-01T…`). It never covers
//! the cells this module writes as numbers — `Integer`, `Money` and `Decimal` — since
//! each is exactly one plain number (`-12.30`), which is not a formula: negative amounts
//! stay as they are. A `Text` cell is judged by its first character alone, so the text
//! `-12.30` is escaped too: text is the caller's, and only our own numbers are known to be
//! plain.
//!
//! XLSX gets the same prefix, as text, on the same cells. The workbook never holds a
//! formula (this module writes strings and numbers only, never `write_formula`), and a
//! string cell is not evaluated when the file opens, but the prefix keeps a value defused
//! when someone edits the cell, pastes it elsewhere or saves the sheet as CSV, and it makes
//! both formats show the same text.
//!
//! # XLSX
//!
//! One worksheet named after the title (made to fit Excel's rules), a bold header row
//! frozen in place, and column widths from the longest text of each column. Numbers in
//! XLSX are IEEE doubles, and money is never converted to a float (`clippy.toml` bans the
//! decimal-to-float conversions), so money and decimals are written as text cells holding
//! the exact decimal, right-aligned like numbers, with Excel's "number stored as text"
//! warning turned off for the table. An integer is written as a number only when its
//! magnitude is below 10^15: Excel keeps 15 significant digits, which is stricter than
//! the 2^53 a double holds exactly; a larger one is right-aligned text. Dates and instants
//! are text in the CSV form rather than Excel's float date serials.
//!
//! The same table gives the same bytes: the workbook's creation time (the only clock it
//! reads) is an argument of [`to_xlsx_at`], and [`to_xlsx`] uses the Unix epoch; the zip
//! entries' times are fixed by `rust_xlsxwriter`.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use rust_xlsxwriter::{
    ColNum, DocProperties, ExcelDateTime, Format, FormatAlign, IgnoreError, RowNum, Workbook,
    Worksheet, XlsxError,
};

/// The media type of [`to_csv`]'s output.
pub const CSV_MEDIA_TYPE: &str = "text/csv; charset=utf-8";

/// The media type of [`to_xlsx`]'s output.
pub const XLSX_MEDIA_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// One cell of a report table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Free text (names, ids, labels); defused against formula injection when rendered.
    Text(String),
    /// A count or an id number.
    Integer(i64),
    /// An amount of money, exact, at its currency's scale.
    Money {
        /// The amount, written with the scale it carries (`12.30` stays `12.30`).
        amount: Decimal,
        /// The ISO 4217 code; the rendered cell holds the amount alone (see the module
        /// documentation).
        currency: String,
    },
    /// A rate or a ratio, exact.
    Decimal(Decimal),
    /// A point in time, in milliseconds since the Unix epoch, UTC.
    Instant(i64),
    /// A calendar day.
    Date(NaiveDate),
    /// No value.
    Empty,
}

impl Cell {
    /// A [`Cell::Text`].
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }
}

/// A report: a title, column names, and rows as wide as the columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// What the report is; the XLSX worksheet is named after it.
    pub title: String,
    /// The column names, written as the header row.
    pub columns: Vec<String>,
    /// The rows, each with one cell per column (see [`Table::push`]).
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with no rows yet.
    pub fn new(
        title: impl Into<String>,
        columns: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            title: title.into(),
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row, made as wide as the columns: a short row is padded with
    /// [`Cell::Empty`] (its trailing cells are empty). A row wider than the columns is a
    /// bug in the report that built it: a debug build panics, a release build drops the
    /// cells beyond the last column.
    pub fn push(&mut self, mut row: Vec<Cell>) {
        debug_assert!(
            row.len() <= self.columns.len(),
            "a row of {} cells for the {} columns of {:?}",
            row.len(),
            self.columns.len(),
            self.title
        );
        row.resize_with(self.columns.len(), || Cell::Empty);
        self.rows.push(row);
    }
}

/// Why a table could not be written as XLSX.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// More rows than a worksheet holds below its header.
    #[error("the table has {rows} rows; a worksheet holds at most {max} below its header")]
    TooManyRows {
        /// The table's rows.
        rows: usize,
        /// Excel's limit, less the header row.
        max: usize,
    },
    /// More columns than a worksheet holds.
    #[error("the table has {columns} columns; a worksheet holds at most {max}")]
    TooManyColumns {
        /// The table's columns.
        columns: usize,
        /// Excel's limit.
        max: usize,
    },
    /// One cell was refused, such as text longer than Excel's 32,767 characters.
    #[error("{}, column {column:?}: {source}", row_name(*.row))]
    Cell {
        /// The row's index in [`Table::rows`] (`None` for the header row).
        row: Option<usize>,
        /// The column's name.
        column: String,
        /// What `rust_xlsxwriter` said.
        #[source]
        source: XlsxError,
    },
    /// The workbook could not be assembled, or the creation time is outside Excel's years
    /// 1900–9999.
    #[error("the workbook could not be written: {0}")]
    Xlsx(#[from] XlsxError),
}

fn row_name(row: Option<usize>) -> String {
    row.map_or_else(|| "the header row".to_owned(), |row| format!("row {row}"))
}

/// Renders the table as CSV (RFC 4180): UTF-8 without a byte order mark, a header row of
/// the column names, `\r\n` line ends, fields quoted only where they need it.
pub fn to_csv(table: &Table) -> Vec<u8> {
    // Writing into a Vec cannot fail, and every record has the header's width (`cells`
    // pads and truncates), so the csv crate has nothing to report.
    csv_bytes(table).expect("writing CSV into memory cannot fail")
}

/// Renders the table as an XLSX workbook whose creation time is the Unix epoch, so the
/// same table always gives the same bytes.
pub fn to_xlsx(table: &Table) -> Result<Vec<u8>, TableError> {
    to_xlsx_at(table, DateTime::UNIX_EPOCH)
}

/// Renders the table as an XLSX workbook created (and last modified) at `created`, to the
/// second; the bytes depend on nothing else. `created` must fall in Excel's years
/// 1900–9999.
pub fn to_xlsx_at(table: &Table, created: DateTime<Utc>) -> Result<Vec<u8>, TableError> {
    let width = table.columns.len();
    if width > XLSX_COLUMNS_MAX {
        return Err(TableError::TooManyColumns {
            columns: width,
            max: XLSX_COLUMNS_MAX,
        });
    }
    if table.rows.len() > XLSX_ROWS_MAX {
        return Err(TableError::TooManyRows {
            rows: table.rows.len(),
            max: XLSX_ROWS_MAX,
        });
    }
    let created = ExcelDateTime::from_timestamp(created.timestamp())?;
    let properties = DocProperties::new()
        .set_title(table.title.as_str())
        .set_creation_datetime(&created);
    let mut workbook = Workbook::new();
    workbook.set_properties(&properties);
    let worksheet = workbook.add_worksheet();
    worksheet.set_name(sheet_name(&table.title))?;
    write_sheet(worksheet, table)?;
    Ok(workbook.save_to_buffer()?)
}

/// The characters that make a spreadsheet read a field as a formula (OWASP): `=`, `+`,
/// `-`, `@`, and tab and carriage return, which some spreadsheets skip before looking.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Excel's rows below the header (1,048,576 in all).
const XLSX_ROWS_MAX: usize = 1_048_575;
/// Excel's columns.
const XLSX_COLUMNS_MAX: usize = 16_384;
/// The largest integer magnitude written to XLSX as a number: Excel keeps 15 significant
/// digits (and every such integer is an exact double, being below 2^53).
const XLSX_INTEGER_MAX: u64 = 999_999_999_999_999;
/// Excel's longest worksheet name, in UTF-16 units.
const SHEET_NAME_MAX: usize = 31;
// Column widths, in Excel's character units: at least the default column's, at most
// enough for a long name, with room for the header's bold type.
const WIDTH_MIN: usize = 8;
const WIDTH_MAX: usize = 60;
const WIDTH_PADDING: usize = 2;

fn csv_bytes(table: &Table) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    let header: Vec<Cow<'_, str>> = table.columns.iter().map(|name| defuse(name)).collect();
    writer.write_record(header.iter().map(|field| field.as_bytes()))?;
    let width = table.columns.len();
    for row in &table.rows {
        let fields: Vec<Cow<'_, str>> = cells(row, width).map(render).collect();
        writer.write_record(fields.iter().map(|field| field.as_bytes()))?;
    }
    writer
        .into_inner()
        .map_err(|error| error.into_error().into())
}

/// A row's cells, exactly `width` of them: padded with [`Cell::Empty`], or cut short.
fn cells(row: &[Cell], width: usize) -> impl Iterator<Item = &Cell> {
    row.iter()
        .chain(std::iter::repeat(&Cell::Empty))
        .take(width)
}

/// A cell's text, as both formats write it (see the module documentation).
fn render(cell: &Cell) -> Cow<'_, str> {
    match cell {
        Cell::Text(text) => defuse(text),
        // Our own numbers, each exactly one plain number: never altered.
        Cell::Integer(number) => Cow::Owned(number.to_string()),
        Cell::Money { amount, .. } | Cell::Decimal(amount) => Cow::Owned(amount.to_string()),
        Cell::Instant(ms) => defuse_owned(instant_text(*ms)),
        Cell::Date(date) => defuse_owned(date.format("%Y-%m-%d").to_string()),
        Cell::Empty => Cow::Borrowed(""),
    }
}

/// RFC 3339 UTC with milliseconds. An instant beyond chrono's years (±262,143), which no
/// report holds, is written as its millisecond count rather than failing the report.
fn instant_text(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |instant| instant.to_rfc3339_opts(SecondsFormat::Millis, true),
    )
}

/// Prefixes `'` to text a spreadsheet would run as a formula.
fn defuse(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

fn defuse_owned(text: String) -> Cow<'static, str> {
    if text.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Owned(text)
    }
}

/// What one cell becomes in the worksheet.
#[derive(Debug, PartialEq, Eq)]
enum XlsxValue<'a> {
    /// A number cell (an integer Excel holds exactly).
    Number(i64),
    /// A string cell.
    Text(Cow<'a, str>),
    /// A string cell holding a number we will not turn into a double, right-aligned.
    Figure(Cow<'a, str>),
    /// Nothing written.
    Blank,
}

fn xlsx_value(cell: &Cell) -> XlsxValue<'_> {
    match cell {
        Cell::Integer(number) if number.unsigned_abs() <= XLSX_INTEGER_MAX => {
            XlsxValue::Number(*number)
        }
        Cell::Integer(_) | Cell::Money { .. } | Cell::Decimal(_) => XlsxValue::Figure(render(cell)),
        Cell::Text(_) | Cell::Instant(_) | Cell::Date(_) => XlsxValue::Text(render(cell)),
        Cell::Empty => XlsxValue::Blank,
    }
}

fn write_sheet(worksheet: &mut Worksheet, table: &Table) -> Result<(), TableError> {
    let bold = Format::new().set_bold();
    let right = Format::new().set_align(FormatAlign::Right);
    let width = table.columns.len();
    let mut longest = vec![0_usize; width];
    for ((name, column), longest) in table.columns.iter().zip(0_u16..).zip(&mut longest) {
        let text = defuse(name);
        *longest = text.chars().count();
        worksheet
            .write_string_with_format(0, column, text, &bold)
            .map_err(|source| cell_error(None, name, source))?;
    }
    for ((index, row), sheet_row) in table.rows.iter().enumerate().zip(1_u32..) {
        let columns = cells(row, width)
            .zip(0_u16..)
            .zip(&table.columns)
            .zip(&mut longest);
        for (((cell, column), name), longest) in columns {
            let written = match xlsx_value(cell) {
                // Exact: the magnitude is below 10^15 < 2^53.
                XlsxValue::Number(number) => worksheet
                    .write_number(sheet_row, column, number as f64)
                    .map(|_| number.to_string().len()),
                XlsxValue::Text(text) => {
                    let chars = text.chars().count();
                    worksheet
                        .write_string(sheet_row, column, text)
                        .map(|_| chars)
                }
                XlsxValue::Figure(text) => {
                    let chars = text.chars().count();
                    worksheet
                        .write_string_with_format(sheet_row, column, text, &right)
                        .map(|_| chars)
                }
                XlsxValue::Blank => Ok(0),
            };
            let chars = written.map_err(|source| cell_error(Some(index), name, source))?;
            *longest = (*longest).max(chars);
        }
    }
    for (longest, column) in longest.into_iter().zip(0_u16..) {
        worksheet.set_column_width(column, column_width(longest))?;
    }
    worksheet.set_freeze_panes(1, 0)?;
    ignore_numbers_stored_as_text(worksheet, table.rows.len(), width)
}

/// Turns off Excel's "number stored as text" warning over the data, where money and
/// decimals are text on purpose.
fn ignore_numbers_stored_as_text(
    worksheet: &mut Worksheet,
    rows: usize,
    width: usize,
) -> Result<(), TableError> {
    // Both fit: the limits were checked before writing.
    let (Ok(last_row), Ok(last_column)) = (RowNum::try_from(rows), ColNum::try_from(width)) else {
        return Ok(());
    };
    if last_row > 0 && last_column > 0 {
        worksheet.ignore_error_range(
            1,
            0,
            last_row,
            last_column - 1,
            IgnoreError::NumberStoredAsText,
        )?;
    }
    Ok(())
}

fn cell_error(row: Option<usize>, column: &str, source: XlsxError) -> TableError {
    TableError::Cell {
        row,
        column: column.to_owned(),
        source,
    }
}

/// A column's width for its longest text, in Excel's character units.
fn column_width(longest_chars: usize) -> u16 {
    let width = (longest_chars.saturating_add(WIDTH_PADDING)).clamp(WIDTH_MIN, WIDTH_MAX);
    u16::try_from(width).unwrap_or(u16::MAX)
}

/// The title made a valid worksheet name: `[ ] : * ? / \` become `-`, control characters
/// spaces; no apostrophe or space at either end; at most 31 UTF-16 units, cut at a
/// character; `Report` if nothing is left, and not Excel's reserved `History`.
fn sheet_name(title: &str) -> String {
    let cleaned: String = title
        .chars()
        .map(|c| match c {
            '[' | ']' | ':' | '*' | '?' | '/' | '\\' => '-',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let mut name = String::new();
    let mut units = 0;
    for c in cleaned.trim_matches(unwanted_at_ends).chars() {
        units += c.len_utf16();
        if units > SHEET_NAME_MAX {
            break;
        }
        name.push(c);
    }
    let name = name.trim_end_matches(unwanted_at_ends);
    if name.is_empty() {
        "Report".to_owned()
    } else if name.eq_ignore_ascii_case("history") {
        format!("{name} report")
    } else {
        name.to_owned()
    }
}

fn unwanted_at_ends(c: char) -> bool {
    c == '\'' || c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn csv_text(table: &Table) -> String {
        String::from_utf8(to_csv(table)).unwrap()
    }

    fn money(amount: Decimal, currency: &str) -> Cell {
        Cell::Money {
            amount,
            currency: currency.to_owned(),
        }
    }

    fn sample() -> Table {
        let mut table = Table::new(
            "Commissions 2026/03",
            [
                "partner",
                "conversions",
                "amount",
                "currency",
                "rate",
                "at",
                "day",
                "note",
            ],
        );
        table.push(vec![
            Cell::text("Ana"),
            Cell::Integer(3),
            money(d("12.30"), "EUR"),
            Cell::text("EUR"),
            Cell::Decimal(d("0.075")),
            Cell::Instant(1_773_144_000_123),
            Cell::Date(NaiveDate::from_ymd_opt(2026, 3, 10).unwrap()),
            Cell::Empty,
        ]);
        table.push(vec![
            Cell::text("Bo"),
            Cell::Integer(-1),
            money(d("-12.30"), "JPY"),
            Cell::text("JPY"),
            Cell::Decimal(d("-0.5")),
            Cell::Instant(0),
            Cell::Date(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()),
            Cell::text("refund"),
        ]);
        table
    }

    #[test]
    fn csv_has_the_header_and_the_rows_in_their_forms() {
        assert_eq!(
            csv_text(&sample()),
            "partner,conversions,amount,currency,rate,at,day,note\r\n\
             Ana,3,12.30,EUR,0.075,2026-03-10T12:00:00.123Z,2026-03-10,\r\n\
             Bo,-1,-12.30,JPY,-0.5,1970-01-01T00:00:00.000Z,1999-12-31,refund\r\n"
        );
    }

    #[test]
    fn csv_keeps_the_scale_it_is_given() {
        let mut table = Table::new("t", ["a", "b", "c"]);
        table.push(vec![
            money(d("5"), "JPY"),
            money(d("5.000"), "BHD"),
            money(d("0.10"), "EUR"),
        ]);
        assert_eq!(csv_text(&table), "a,b,c\r\n5,5.000,0.10\r\n");
    }

    #[test]
    fn csv_quotes_commas_quotes_and_newlines_and_reads_back() {
        let texts = ["a,b", "say \"hi\"", "two\nlines", "cr\r\nlf", "", "plain"];
        let mut table = Table::new("t", ["x, y", "q\"", "n", "c", "e", "p"]);
        table.push(texts.iter().map(|t| Cell::text(*t)).collect());
        let bytes = to_csv(&table);
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "\"x, y\",\"q\"\"\",n,c,e,p\r\n\
             \"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\nlf\",,plain\r\n"
        );
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(
            reader.headers().unwrap(),
            vec!["x, y", "q\"", "n", "c", "e", "p"]
        );
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0], texts.to_vec());
    }

    #[test]
    fn csv_is_utf8_without_a_bom() {
        let mut table = Table::new("t", ["名前"]);
        table.push(vec![Cell::text("Zoë")]);
        let bytes = to_csv(&table);
        assert!(!bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
        assert_eq!(bytes, "名前\r\nZoë\r\n".as_bytes());
    }

    /// The single field of a one-column table's header and first row, read back.
    fn read_back(table: &Table) -> (String, String) {
        let bytes = to_csv(table);
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let header = reader.headers().unwrap()[0].to_owned();
        let record = reader.records().next().unwrap().unwrap();
        (header, record[0].to_owned())
    }

    #[test]
    fn every_formula_start_is_escaped_in_text_and_column_names() {
        let texts = [
            "=1+1",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "=HYPERLINK(\"http://example.com\",\"x\")",
            "-12.30",
        ];
        for text in texts {
            let mut table = Table::new("t", [text]);
            table.push(vec![Cell::text(text)]);
            let escaped = format!("'{text}");
            assert_eq!(read_back(&table), (escaped.clone(), escaped), "{text:?}");
        }
    }

    #[test]
    fn text_that_starts_otherwise_is_unchanged() {
        for text in ["Ana = 1", "a-b", "1+1", " =1", "'quoted", "", "€5"] {
            let mut table = Table::new("t", [text]);
            table.push(vec![Cell::text(text)]);
            assert_eq!(
                read_back(&table),
                (text.to_owned(), text.to_owned()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn our_own_negative_numbers_are_never_escaped() {
        let mut table = Table::new("t", ["amount", "rate", "count"]);
        table.push(vec![
            money(d("-12.30"), "EUR"),
            Cell::Decimal(d("-0.0125")),
            Cell::Integer(i64::MIN),
        ]);
        assert_eq!(
            csv_text(&table),
            "amount,rate,count\r\n-12.30,-0.0125,-9223372036854775808\r\n"
        );
    }

    #[test]
    fn dates_and_instants_outside_four_digit_years_are_escaped() {
        let mut table = Table::new("t", ["day", "at", "far"]);
        table.push(vec![
            Cell::Date(NaiveDate::from_ymd_opt(-1, 1, 1).unwrap()),
            Cell::Instant(253_402_300_800_000), // 10000-01-01T00:00:00Z
            Cell::Instant(i64::MAX),            // beyond chrono: the millisecond count
        ]);
        assert_eq!(
            csv_text(&table),
            "day,at,far\r\n'-0001-01-01,'+10000-01-01T00:00:00.000Z,9223372036854775807\r\n"
        );
    }

    #[test]
    fn push_pads_short_rows_to_the_columns() {
        let mut table = Table::new("t", ["a", "b", "c"]);
        table.push(vec![Cell::Integer(1)]);
        table.push(Vec::new());
        assert_eq!(
            table.rows[0],
            vec![Cell::Integer(1), Cell::Empty, Cell::Empty]
        );
        assert_eq!(table.rows[1], vec![Cell::Empty; 3]);
        assert_eq!(csv_text(&table), "a,b,c\r\n1,,\r\n,,\r\n");
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "a row of 3 cells for the 2 columns")]
    fn push_refuses_a_row_wider_than_the_columns() {
        let mut table = Table::new("t", ["a", "b"]);
        table.push(vec![Cell::Integer(1), Cell::Integer(2), Cell::Integer(3)]);
    }

    #[cfg(not(debug_assertions))]
    #[test]
    fn push_drops_cells_beyond_the_last_column_in_release() {
        let mut table = Table::new("t", ["a", "b"]);
        table.push(vec![Cell::Integer(1), Cell::Integer(2), Cell::Integer(3)]);
        assert_eq!(table.rows[0], vec![Cell::Integer(1), Cell::Integer(2)]);
    }

    #[test]
    fn rows_set_directly_are_rendered_as_wide_as_the_columns() {
        let mut table = Table::new("t", ["a", "b"]);
        table.rows = vec![
            vec![Cell::Integer(1)],
            vec![Cell::Integer(1), Cell::Integer(2), Cell::Integer(3)],
        ];
        assert_eq!(csv_text(&table), "a,b\r\n1,\r\n1,2\r\n");
        assert!(to_xlsx(&table).is_ok());
    }

    #[test]
    fn column_widths_fit_the_longest_text_within_bounds() {
        assert_eq!(column_width(0), 8);
        assert_eq!(column_width(6), 8);
        assert_eq!(column_width(10), 12);
        assert_eq!(column_width(58), 60);
        assert_eq!(column_width(32_767), 60);
        assert_eq!(column_width(usize::MAX), 60);
    }

    #[test]
    fn xlsx_keeps_money_and_rates_as_exact_text() {
        assert_eq!(xlsx_value(&Cell::Integer(-42)), XlsxValue::Number(-42));
        assert_eq!(
            xlsx_value(&Cell::Integer(999_999_999_999_999)),
            XlsxValue::Number(999_999_999_999_999)
        );
        assert_eq!(
            xlsx_value(&Cell::Integer(-1_000_000_000_000_000)),
            XlsxValue::Figure("-1000000000000000".into())
        );
        assert_eq!(
            xlsx_value(&money(d("-12.30"), "EUR")),
            XlsxValue::Figure("-12.30".into())
        );
        assert_eq!(
            xlsx_value(&Cell::Decimal(d("0.1000000000000000000000000001"))),
            XlsxValue::Figure("0.1000000000000000000000000001".into())
        );
        assert_eq!(
            xlsx_value(&Cell::Instant(1_773_144_000_123)),
            XlsxValue::Text("2026-03-10T12:00:00.123Z".into())
        );
        assert_eq!(
            xlsx_value(&Cell::text("=1+1")),
            XlsxValue::Text("'=1+1".into())
        );
        assert_eq!(xlsx_value(&Cell::Empty), XlsxValue::Blank);
    }

    #[test]
    fn sheet_names_follow_excels_rules() {
        let cases = [
            ("Commissions 2026/03", "Commissions 2026-03"),
            ("a[b]c:d*e?f/g\\h", "a-b-c-d-e-f-g-h"),
            ("'quoted'", "quoted"),
            ("  padded\t", "padded"),
            ("", "Report"),
            ("''", "Report"),
            ("history", "history report"),
            (
                "Partner payouts for the third quarter",
                "Partner payouts for the third q",
            ),
            (
                "Partner payouts for the thir' x",
                "Partner payouts for the thir' x",
            ),
            (
                "Partner payouts for the third 'x y",
                "Partner payouts for the third",
            ),
            // An emoji is two UTF-16 units: it is not split at the limit.
            (
                "Payouts for the third quarters😀",
                "Payouts for the third quarters",
            ),
            ("line\nbreak", "line break"),
        ];
        for (title, name) in cases {
            let got = sheet_name(title);
            assert_eq!(got, name, "{title:?}");
            rust_xlsxwriter::check_sheet_name(&got).unwrap();
        }
    }

    #[test]
    fn xlsx_is_a_zip_and_the_same_table_gives_the_same_bytes() {
        let table = sample();
        let first = to_xlsx(&table).unwrap();
        assert!(first.starts_with(b"PK\x03\x04"));
        // The part names sit uncompressed in the zip's headers.
        for part in [
            "xl/workbook.xml",
            "xl/worksheets/sheet1.xml",
            "xl/sharedStrings.xml",
            "docProps/core.xml",
        ] {
            assert!(
                first.windows(part.len()).any(|w| w == part.as_bytes()),
                "{part}"
            );
        }
        assert_eq!(to_xlsx(&table).unwrap(), first);
        assert_eq!(to_xlsx_at(&table, DateTime::UNIX_EPOCH).unwrap(), first);
    }

    #[test]
    fn xlsx_bytes_follow_the_creation_time_and_nothing_else() {
        let table = sample();
        let at = DateTime::from_timestamp(1_773_144_000, 0).unwrap();
        let later = to_xlsx_at(&table, at).unwrap();
        assert_ne!(later, to_xlsx(&table).unwrap());
        assert_eq!(to_xlsx_at(&table, at).unwrap(), later);
        let mut changed = table.clone();
        changed.rows[0][0] = Cell::text("Ann");
        assert_ne!(to_xlsx_at(&changed, at).unwrap(), later);
    }

    #[test]
    fn xlsx_refuses_what_excel_cannot_hold() {
        let long = Table {
            title: "t".to_owned(),
            columns: vec!["a".to_owned(), "note".to_owned()],
            rows: vec![
                vec![Cell::Empty],
                vec![Cell::Empty, Cell::text("x".repeat(32_768))],
            ],
        };
        assert!(matches!(
            to_xlsx(&long),
            Err(TableError::Cell { row: Some(1), ref column, source: XlsxError::MaxStringLengthExceeded })
                if column == "note"
        ));
        let wide = Table::new("t", (0..=XLSX_COLUMNS_MAX).map(|i| i.to_string()));
        assert!(matches!(
            to_xlsx(&wide),
            Err(TableError::TooManyColumns {
                columns: 16_385,
                max: 16_384
            })
        ));
        let early = DateTime::from_timestamp(-2_209_075_201, 0).unwrap(); // 1899
        assert!(matches!(
            to_xlsx_at(&sample(), early),
            Err(TableError::Xlsx(_))
        ));
    }

    #[test]
    fn an_empty_table_renders() {
        let table = Table::new("", Vec::<String>::new());
        // The csv crate writes an empty record as `""`, so that it is not a blank line.
        assert_eq!(csv_text(&table), "\"\"\r\n");
        assert!(to_xlsx(&table).unwrap().starts_with(b"PK\x03\x04"));
        let headers_only = Table::new("t", ["a"]);
        assert_eq!(csv_text(&headers_only), "a\r\n");
        assert!(to_xlsx(&headers_only).is_ok());
    }

    #[test]
    fn a_large_table_renders() {
        let mut table = Table::new("Large", ["id", "partner", "amount", "currency", "at"]);
        for i in 0..10_000_i64 {
            table.push(vec![
                Cell::Integer(i),
                Cell::text(format!("partner-{}", i % 97)),
                money(Decimal::new(i * 7 - 35_000, 2), "EUR"),
                Cell::text("EUR"),
                Cell::Instant(1_773_144_000_000 + i * 1_000),
            ]);
        }
        let csv = to_csv(&table);
        assert_eq!(
            csv.split(|b| *b == b'\n')
                .filter(|line| !line.is_empty())
                .count(),
            10_001
        );
        let xlsx = to_xlsx(&table).unwrap();
        assert!(xlsx.starts_with(b"PK\x03\x04"));
        assert_eq!(to_xlsx(&table).unwrap(), xlsx);
    }
}
