//! Random identifiers and secrets.

/// `len` random bytes from the OS, as lowercase hex (`2 × len` characters).
pub fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    // The OS generator only fails on broken platforms; a zero token would then be caught
    // by the unique keys it is stored under.
    if let Err(e) = getrandom::fill(&mut bytes) {
        tracing::error!("the OS random generator failed: {e}");
    }
    hex::encode(bytes)
}
