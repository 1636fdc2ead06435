//! Masking account numbers for display and error messages.

/// Shows only the last four characters of an account number, IBAN or address, behind a
/// fixed `••••` (`DE89 3704 0044 0532 0130 00` → `••••3000`). The prefix does not grow
/// with the length, so the mask does not leak it; whitespace is ignored; four characters
/// or fewer are masked entirely.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().filter(|c| !c.is_whitespace()).collect();
    if chars.len() <= 4 {
        return "••••".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("••••{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_last_four_only() {
        assert_eq!(mask("DE89 3704 0044 0532 0130 00"), "••••3000");
        assert_eq!(mask("123456789"), "••••6789");
        assert_eq!(mask("1234"), "••••");
        assert_eq!(mask(""), "••••");
    }
}
