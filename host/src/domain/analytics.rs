//! Analytics, as pure code: time buckets and the rollup grains, what each fact of the
//! ledger and of the click/lead events adds to the rollups, and the statistical models
//! (revenue forecast, churn risk, projected customer lifetime value). Forecasts and
//! scores are estimates and use floats; every figure that is money stays exact.

pub mod buckets;
pub mod churn;
pub mod clv;
pub mod customers;
pub mod forecast;
pub mod rollup;
pub mod table;
