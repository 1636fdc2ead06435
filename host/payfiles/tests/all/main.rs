//! The crate's integration tests, in one binary: golden files for every format, the
//! SEPA XML against the official XSD, the NACHA file through an independent parser,
//! property tests, each writer's refusals, and bank feedback samples.

mod feedback;
mod fixtures;
mod golden;
mod nacha_external;
mod properties;
mod refusals;
mod xsd;
