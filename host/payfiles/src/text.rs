//! Free text made safe for a payment file: transliteration to the EPC SEPA character set
//! (also SWIFT's), NACHA's upper-case alphanumerics, cutting to a field's length, and the
//! stricter rule for identifiers, which are refused rather than rewritten because bank
//! feedback is matched on them.

/// The EPC "basic Latin" set every SEPA bank must accept (EPC217-08): letters, digits,
/// space and `/ - ? : ( ) . , ' +`. SWIFT's X character set is the same, so international
/// wires use it too.
pub fn is_epc(c: char) -> bool {
    c.is_ascii_alphanumeric() || " /-?:().,'+".contains(c)
}

/// Transliterates `text` to the EPC set (`é`→`e`, `ß`→`ss`, `Ø`→`O`, `€`→`EUR`), replaces
/// what has no Latin spelling or falls outside the set (`&`, `@`, `_`, emoji) with a space,
/// collapses runs of spaces, trims, and cuts to `max` characters.
///
/// A space rather than `.` for the unknown, because these are names and remittance
/// lines read by people; collapsing keeps `Smith & Sons` from becoming `Smith   Sons`.
pub fn epc(text: &str, max: usize) -> String {
    let latin = deunicode::deunicode_with_tofu(text, " ");
    let mapped = latin.chars().map(|c| if is_epc(c) { c } else { ' ' });
    cut(&collapse_spaces(mapped), max)
}

/// Transliterates `text` for a NACHA alphanumeric field: upper case (some receiving banks
/// reject lower case), letters, digits, space and `/ - . , ' & ( ) +`; anything else a
/// space; spaces collapsed, trimmed, cut to `max` characters.
pub fn nacha(text: &str, max: usize) -> String {
    let latin = deunicode::deunicode_with_tofu(text, " ").to_ascii_uppercase();
    let mapped = latin.chars().map(|c| {
        if c.is_ascii_alphanumeric() || " /-.,'&()+".contains(c) {
            c
        } else {
            ' '
        }
    });
    cut(&collapse_spaces(mapped), max)
}

/// Why an identifier cannot go into a file as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdProblem {
    /// Empty.
    Empty,
    /// Longer than the field.
    TooLong,
    /// A character outside the allowed set (spaces included).
    Character,
    /// Starts or ends with `/`, or holds `//` (EPC: these delimit structured references).
    Slash,
}

impl IdProblem {
    /// A sentence for an error message.
    pub fn describe(self, max: usize) -> String {
        match self {
            Self::Empty => "must not be empty".to_owned(),
            Self::TooLong => format!("must be at most {max} characters"),
            Self::Character => {
                "may hold only letters, digits and / - ? : ( ) . , ' + (no spaces)".to_owned()
            }
            Self::Slash => "must not start or end with '/' nor contain '//'".to_owned(),
        }
    }
}

/// Checks an identifier (`MsgId`, `EndToEndId`, NACHA individual id): 1..=`max`
/// characters of the EPC set without spaces, no leading, trailing or double `/`.
pub fn check_id(id: &str, max: usize) -> Result<(), IdProblem> {
    if id.is_empty() {
        return Err(IdProblem::Empty);
    }
    if id.chars().count() > max {
        return Err(IdProblem::TooLong);
    }
    if !id.chars().all(|c| c != ' ' && is_epc(c)) {
        return Err(IdProblem::Character);
    }
    if id.starts_with('/') || id.ends_with('/') || id.contains("//") {
        return Err(IdProblem::Slash);
    }
    Ok(())
}

/// The first `max` characters of `text`, without a trailing space left by the cut.
pub fn cut(text: &str, max: usize) -> String {
    let cut: String = text.chars().take(max).collect();
    cut.trim_end().to_owned()
}

fn collapse_spaces(chars: impl Iterator<Item = char>) -> String {
    let mut out = String::new();
    for c in chars {
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epc_transliterates_and_replaces() {
        assert_eq!(epc("Müller Straße", 140), "Muller Strasse");
        assert_eq!(epc("Søren Ærø Øst", 140), "Soren AEro Ost");
        assert_eq!(epc("Café & Co_ltd", 140), "Cafe Co ltd");
        assert_eq!(epc("a@b.com", 140), "a b.com");
        assert_eq!(epc("  Łódź  ", 140), "Lodz");
        assert_eq!(epc("10 €", 140), "10 EUR");
        assert_eq!(epc("Invoice #12; ok?", 140), "Invoice 12 ok?");
        // deunicode names emoji; what it has no spelling for becomes a space.
        assert_eq!(epc("🎉 prize", 140), "tada prize");
        assert_eq!(epc("a\u{E000}b", 140), "a b");
    }

    #[test]
    fn epc_cuts_after_transliterating() {
        // ß becomes two letters, so the cut must come after.
        assert_eq!(epc("ßßß", 5), "sssss");
        assert_eq!(epc("abc def", 4), "abc");
    }

    #[test]
    fn nacha_is_upper_case() {
        assert_eq!(nacha("José Núñez & Co.", 22), "JOSE NUNEZ & CO.");
        assert_eq!(nacha("a_b@c", 22), "A B C");
    }

    #[test]
    fn ids_are_checked_not_rewritten() {
        assert_eq!(check_id("PAY-2026-0001", 35), Ok(()));
        assert_eq!(check_id("", 35), Err(IdProblem::Empty));
        assert_eq!(check_id(&"x".repeat(36), 35), Err(IdProblem::TooLong));
        assert_eq!(check_id("a b", 35), Err(IdProblem::Character));
        assert_eq!(check_id("é", 35), Err(IdProblem::Character));
        assert_eq!(check_id("/ab", 35), Err(IdProblem::Slash));
        assert_eq!(check_id("a//b", 35), Err(IdProblem::Slash));
    }
}
