//! Revenue forecasts for a program's daily revenue series, with a backtest that says how
//! far to trust them.
//!
//! **Models.** With at least [`MIN_DAYS_SEASONAL`] days (two weeks: the decomposition needs
//! two full periods), the series is split by MSTL into a weekly seasonal part (period 7)
//! and a deseasonalised rest (trend plus remainder); AutoETS (non-seasonal exponential
//! smoothing, the model chosen by AICc among `ANN`, `AAN`, `AAdN`, `MNN`, `MAN`, `MAdN`)
//! forecasts the rest and the last week of the seasonal part is repeated on top. With
//! fewer days but at least [`MIN_DAYS`], AutoETS alone. When a model cannot be fitted, the
//! next simpler one is used and [`Forecast::method`] says so: MSTL + AutoETS, then AutoETS,
//! then the mean of the last (up to) 28 days with a Student-t interval. AutoETS itself
//! refuses fewer than 7 days (augurs 0.10 needs more observations than its parameters plus
//! four), so a series of 3 to 6 days always ends on the mean.
//!
//! **Intervals** are the model's: the ETS prediction interval of the deseasonalised series
//! with the seasonal part added to both bounds. They leave out the error in the seasonal
//! estimate itself, so they run narrow: on the synthetic weekly series of the tests an
//! 80 % interval held between 46 % and 71 % of the days after it. [`Backtest::coverage`] says how narrow
//! for the series at hand; show it beside the interval.
//!
//! **Revenue is not negative.** Each day's mean and bounds are clamped at zero, then
//! rounded half to even to minor units.
//!
//! **Totals.** The horizon's total is the sum of the daily means (exactly the sum of the
//! points' `mean_minor`). Summing the daily bounds would give the interval of a total whose
//! days all miss in the same direction at once, far too wide; summing nothing would be too
//! narrow. Instead each day's error is taken as normal with standard deviation
//! σᵢ = hᵢ / z, where hᵢ is the half-width of that day's interval (before clamping) and z
//! the normal quantile of the level, and the days' errors are **assumed independent**, so
//! the total's interval is total ± z·√(Σ σᵢ²) = total ± √(Σ hᵢ²). Exponential smoothing's
//! errors are in fact positively correlated from one day to the next (a misjudged level
//! stays misjudged), so the total's interval is, if anything, too narrow; the backtest's
//! coverage is the check.
//!
//! **Backtest.** The method used for the forecast is fitted again on the series without
//! its last `min(horizon, len / 4)` days (when that is at least [`MIN_HOLDOUT_DAYS`]), and
//! its forecast of those days is compared with what happened: MAPE over the days with
//! non-zero revenue, sMAPE (2|a − f| / (|a| + |f|), 0 on days where both are zero), MAE,
//! MASE (MAE over the in-sample MAE of the seasonal-naive forecast `y[t − 7]` on the
//! training part, Hyndman's scaling: below 1, the forecast missed by less than last week's
//! value missed one week ahead; a forecast weeks ahead may well sit somewhat above 1) and
//! the share of days inside the interval. Fractions are fractions (0.12, not 12 %).
//!
//! **Floats.** This module computes with `f64` (and augurs's MSTL with `f32` inside):
//! forecasts are estimates, never money that is paid. Amounts come in as `i64` minor units
//! and go out as `i64` minor units; no `Decimal` passes through a float.
//!
//! **Determinism.** The same series, horizon and level give the same forecast: stlrs and
//! the ETS optimiser (Nelder–Mead from a fixed start) are deterministic, and the only ETS
//! models that would simulate their intervals with a random generator (multiplicative
//! trend) are left out of the search.

#![allow(clippy::float_arithmetic)]

use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::prelude::{Fit, Predict};
use chrono::{Days, NaiveDate};
use serde::Serialize;

/// Fewest days that can be forecast at all.
pub const MIN_DAYS: usize = 3;

/// Fewest days for the weekly-seasonal model: two full weeks, since the decomposition
/// cannot estimate a season it has seen only once.
pub const MIN_DAYS_SEASONAL: usize = 2 * WEEK_DAYS;

/// Fewest held-out days for a backtest: one full week, so that every weekday is judged.
pub const MIN_HOLDOUT_DAYS: usize = WEEK_DAYS;

/// The weekly season.
const WEEK_DAYS: usize = 7;

/// How many recent days the mean fallback averages: four weeks, recent enough to follow
/// the level and a whole number of weeks so no weekday weighs more than another.
const MEAN_WINDOW_DAYS: usize = 4 * WEEK_DAYS;

/// A program's revenue per day, in minor units of its currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailySeries {
    /// The day of the first value.
    pub start_day: NaiveDate,
    /// One value per consecutive day from `start_day`, oldest first; zeros are days
    /// without revenue.
    pub values_minor: Vec<i64>,
}

/// One forecast day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastPoint {
    /// The day.
    pub day: NaiveDate,
    /// The expected revenue, minor units, at least 0.
    pub mean_minor: i64,
    /// The interval's lower bound, minor units, at least 0 (revenue is not negative).
    pub lower_minor: i64,
    /// The interval's upper bound, minor units.
    pub upper_minor: i64,
}

/// How the method did on the last days of the series when they were hidden from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backtest {
    /// How many days at the end were held out.
    pub holdout_days: usize,
    /// Mean absolute percentage error over the held-out days with non-zero revenue, as a
    /// fraction; `None` when every held-out day was zero.
    pub mape: Option<f64>,
    /// Symmetric mean absolute percentage error, as a fraction in 0..=2.
    pub smape: f64,
    /// Mean absolute error, minor units.
    pub mae_minor: i64,
    /// Mean absolute scaled error against the seasonal-naive (7-day) forecast's in-sample
    /// error; `None` when that error is zero (a series that repeats exactly every week).
    pub mase: Option<f64>,
    /// Share of held-out days whose revenue fell inside the interval, in 0..=1.
    pub coverage: f64,
}

/// A revenue forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    /// What produced it, e.g. `MSTL(period 7) + AutoETS`, with any fallback and its
    /// reason.
    pub method: String,
    /// How many days ahead.
    pub horizon_days: usize,
    /// One point per day after the series' last day.
    pub points: Vec<ForecastPoint>,
    /// The intervals' level, e.g. 0.8 for 80 % intervals.
    pub level: f64,
    /// The method's errors on held-out history; `None` when the series is too short to
    /// hold out a week.
    pub backtest: Option<Backtest>,
    /// Expected revenue over the horizon, minor units: the sum of the points' means.
    pub total_minor: i64,
    /// The total's lower bound, minor units (see the module documentation).
    pub total_lower_minor: i64,
    /// The total's upper bound, minor units.
    pub total_upper_minor: i64,
}

/// Why no forecast could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// Fewer days than [`MIN_DAYS`].
    #[error("a forecast needs at least {min_days} days of history, got {days}")]
    TooShort {
        /// Days given.
        days: usize,
        /// Days needed.
        min_days: usize,
    },
    /// A level outside (0, 1).
    #[error("the interval level must be between 0 and 1 (exclusive), got {0}")]
    InvalidLevel(f64),
    /// A forecast day past the last date the calendar represents.
    #[error("the forecast runs past the last representable date")]
    DateOutOfRange,
    /// Every model failed (not expected: the mean fallback fits any series of
    /// [`MIN_DAYS`] days).
    #[error("no model could be fitted: {0}")]
    NoModel(String),
}

/// Forecast `horizon_days` days after the series' last day, with intervals at `level`
/// (e.g. 0.8), totals for the horizon and a backtest (see the module documentation).
pub fn forecast(
    series: &DailySeries,
    horizon_days: usize,
    level: f64,
) -> Result<Forecast, ForecastError> {
    if !(level > 0.0 && level < 1.0) {
        return Err(ForecastError::InvalidLevel(level));
    }
    let days = series.values_minor.len();
    if days < MIN_DAYS {
        return Err(ForecastError::TooShort {
            days,
            min_days: MIN_DAYS,
        });
    }
    let first_day = add_days(series.start_day, days)?;
    let y = as_estimates(&series.values_minor);
    let (method, name, raw) = fit_with_fallback(&y, horizon_days, level)?;
    let bands = clamp_and_round(&raw);
    let points = bands
        .iter()
        .enumerate()
        .map(|(i, band)| {
            Ok(ForecastPoint {
                day: add_days(first_day, i)?,
                mean_minor: band.mean,
                lower_minor: band.lower,
                upper_minor: band.upper,
            })
        })
        .collect::<Result<Vec<_>, ForecastError>>()?;
    let (total_minor, total_lower_minor, total_upper_minor) = totals(&bands, &raw);
    Ok(Forecast {
        method: name,
        horizon_days,
        points,
        level,
        backtest: backtest(method, &series.values_minor, horizon_days, level),
        total_minor,
        total_lower_minor,
        total_upper_minor,
    })
}

/// The models, simplest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    MstlEts,
    Ets,
    Mean,
}

/// A model's forecast before clamping and rounding.
#[derive(Debug, Clone, PartialEq)]
struct Raw {
    name: String,
    mean: Vec<f64>,
    lower: Vec<f64>,
    upper: Vec<f64>,
}

impl Method {
    /// The models to try for a series of `days` days, best first.
    fn chain(days: usize) -> &'static [Method] {
        if days >= MIN_DAYS_SEASONAL {
            &[Method::MstlEts, Method::Ets, Method::Mean]
        } else {
            &[Method::Ets, Method::Mean]
        }
    }

    fn name(self) -> &'static str {
        match self {
            Method::MstlEts => "MSTL(period 7) + AutoETS",
            Method::Ets => "AutoETS",
            Method::Mean => "mean",
        }
    }

    fn fit(self, y: &[f64], horizon: usize, level: f64) -> Result<Raw, String> {
        let raw = match self {
            Method::MstlEts => {
                let trend = AutoETS::non_seasonal().into_trend_model();
                let fitted = MSTLModel::new(vec![WEEK_DAYS], trend)
                    .fit(y)
                    .map_err(|e| e.to_string())?;
                let out = fitted.predict(horizon, level).map_err(|e| e.to_string())?;
                from_augurs(self.name().to_owned(), out)?
            }
            Method::Ets => {
                let fitted = AutoETS::non_seasonal().fit(y).map_err(|e| e.to_string())?;
                let out = fitted.predict(horizon, level).map_err(|e| e.to_string())?;
                from_augurs(self.name().to_owned(), out)?
            }
            Method::Mean => mean_forecast(y, horizon, level)?,
        };
        check_raw(raw, horizon)
    }
}

/// Fit the first model of the chain that succeeds; the name records what failed before
/// it, so a fallback is never silent.
fn fit_with_fallback(
    y: &[f64],
    horizon: usize,
    level: f64,
) -> Result<(Method, String, Raw), ForecastError> {
    let mut failures: Vec<String> = Vec::new();
    for &method in Method::chain(y.len()) {
        match method.fit(y, horizon, level) {
            Ok(raw) => {
                let name = if failures.is_empty() {
                    raw.name.clone()
                } else {
                    format!("{} (fallback: {})", raw.name, failures.join("; "))
                };
                return Ok((method, name, raw));
            }
            Err(why) => failures.push(format!("{} failed: {why}", method.name())),
        }
    }
    Err(ForecastError::NoModel(failures.join("; ")))
}

fn from_augurs(name: String, out: augurs::Forecast) -> Result<Raw, String> {
    let intervals = out.intervals.ok_or("the model gave no intervals")?;
    Ok(Raw {
        name,
        mean: out.point,
        lower: intervals.lower,
        upper: intervals.upper,
    })
}

/// Refuse a forecast of the wrong length, with non-finite values or crossed bounds, so
/// that the next model is tried instead of showing nonsense.
fn check_raw(raw: Raw, horizon: usize) -> Result<Raw, String> {
    let lengths_ok =
        raw.mean.len() == horizon && raw.lower.len() == horizon && raw.upper.len() == horizon;
    if !lengths_ok {
        return Err(format!("gave {} of {horizon} days", raw.mean.len()));
    }
    let sane = (0..horizon).all(|i| {
        let (m, l, u) = (raw.mean[i], raw.lower[i], raw.upper[i]);
        m.is_finite() && l.is_finite() && u.is_finite() && l <= m && m <= u
    });
    if !sane {
        return Err("gave non-finite or crossed values".to_owned());
    }
    Ok(raw)
}

/// The mean of the last days, flat, with a Student-t prediction interval for one new
/// day: mean ± t·s·√(1 + 1/n). Student's t rather than the normal because n is small
/// here (3 to 6 days on its usual path), where a normal interval would be too narrow.
fn mean_forecast(y: &[f64], horizon: usize, level: f64) -> Result<Raw, String> {
    let window = &y[y.len().saturating_sub(MEAN_WINDOW_DAYS)..];
    if window.is_empty() {
        return Err("no data".to_owned());
    }
    let n = window.len() as f64;
    let mean = window.iter().sum::<f64>() / n;
    let half = if window.len() < 2 {
        0.0
    } else {
        let variance = window.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let t = student_t_quantile(0.5 + level / 2.0, n - 1.0);
        t * variance.sqrt() * (1.0 + 1.0 / n).sqrt()
    };
    Ok(Raw {
        name: format!("mean of the last {} days", window.len()),
        mean: vec![mean; horizon],
        lower: vec![mean - half; horizon],
        upper: vec![mean + half; horizon],
    })
}

/// One day's figures in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Band {
    mean: i64,
    lower: i64,
    upper: i64,
}

fn clamp_and_round(raw: &Raw) -> Vec<Band> {
    (0..raw.mean.len())
        .map(|i| Band {
            mean: round_minor(raw.mean[i].max(0.0)),
            lower: round_minor(raw.lower[i].max(0.0)),
            upper: round_minor(raw.upper[i].max(0.0)),
        })
        .collect()
}

/// The horizon's total and its interval: independent daily errors, so the half-widths
/// add in quadrature (see the module documentation). The half-widths are the model's,
/// before clamping: clamping a day's lower bound at zero does not make it more certain.
fn totals(bands: &[Band], raw: &Raw) -> (i64, i64, i64) {
    let total = bands
        .iter()
        .fold(0_i64, |sum, band| sum.saturating_add(band.mean));
    let half_squares: f64 = raw
        .lower
        .iter()
        .zip(&raw.upper)
        .map(|(l, u)| ((u - l) / 2.0).powi(2))
        .sum();
    let half = round_minor(half_squares.sqrt());
    (
        total,
        total.saturating_sub(half).max(0),
        total.saturating_add(half),
    )
}

fn backtest(method: Method, values: &[i64], horizon: usize, level: f64) -> Option<Backtest> {
    let holdout = horizon.min(values.len() / 4);
    if holdout < MIN_HOLDOUT_DAYS {
        return None;
    }
    let (train, test) = values.split_at(values.len() - holdout);
    // The same method, without the fallback chain: the backtest judges the model that
    // made the forecast, and says nothing rather than judge another one.
    let raw = method.fit(&as_estimates(train), holdout, level).ok()?;
    let bands = clamp_and_round(&raw);
    Some(errors(train, test, &bands))
}

fn errors(train: &[i64], test: &[i64], bands: &[Band]) -> Backtest {
    let n = test.len() as f64;
    let pairs = || {
        test.iter()
            .zip(bands)
            .map(|(&a, band)| (a as f64, band.mean as f64))
    };
    let abs_sum: f64 = pairs().map(|(a, f)| (a - f).abs()).sum();
    let nonzero: Vec<f64> = pairs()
        .filter(|&(a, _)| a != 0.0)
        .map(|(a, f)| ((a - f) / a).abs())
        .collect();
    let mape = (!nonzero.is_empty()).then(|| nonzero.iter().sum::<f64>() / nonzero.len() as f64);
    let smape = pairs()
        .map(|(a, f)| {
            let denominator = a.abs() + f.abs();
            if denominator == 0.0 {
                0.0
            } else {
                2.0 * (a - f).abs() / denominator
            }
        })
        .sum::<f64>()
        / n;
    let inside = test
        .iter()
        .zip(bands)
        .filter(|&(&a, band)| band.lower <= a && a <= band.upper)
        .count();
    let scale = seasonal_naive_mae(train);
    Backtest {
        holdout_days: test.len(),
        mape,
        smape,
        mae_minor: round_minor(abs_sum / n),
        mase: scale.filter(|&s| s > 0.0).map(|s| abs_sum / n / s),
        coverage: inside as f64 / n,
    }
}

/// The in-sample mean absolute error of forecasting each day by the same weekday a week
/// before; `None` when the training part is shorter than a week and a day.
fn seasonal_naive_mae(train: &[i64]) -> Option<f64> {
    if train.len() <= WEEK_DAYS {
        return None;
    }
    let diffs: Vec<f64> = train
        .windows(WEEK_DAYS + 1)
        .map(|w| (w[WEEK_DAYS] as f64 - w[0] as f64).abs())
        .collect();
    Some(diffs.iter().sum::<f64>() / diffs.len() as f64)
}

/// Minor units as floats for the models: estimates, so the rounding of amounts above
/// 2^53 minor units (90 billion dollars a day) does not matter.
fn as_estimates(values: &[i64]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

/// An estimate back to minor units, half to even like every amount (saturating; the
/// callers pass finite values).
fn round_minor(value: f64) -> i64 {
    value.round_ties_even() as i64
}

fn add_days(day: NaiveDate, n: usize) -> Result<NaiveDate, ForecastError> {
    let n = u64::try_from(n).map_err(|_| ForecastError::DateOutOfRange)?;
    day.checked_add_days(Days::new(n))
        .ok_or(ForecastError::DateOutOfRange)
}

/// The standard normal quantile, by Acklam's rational approximation (relative error
/// below 1.2e-9, far below anything an estimate of revenue could notice).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

/// Student's t quantile with `df` degrees of freedom, by the Cornish–Fisher expansion
/// around the normal quantile (three terms: within about 1 % of the exact value from 2
/// degrees of freedom at the levels intervals use).
fn student_t_quantile(p: f64, df: f64) -> f64 {
    let z = normal_quantile(p);
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * df)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df.powi(2))
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * df.powi(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn series(values: Vec<i64>) -> DailySeries {
        DailySeries {
            start_day: day("2026-01-01"),
            values_minor: values,
        }
    }

    /// A deterministic pseudo-random number in [-1, 1) (a 64-bit LCG), so the synthetic
    /// series is noisy but every run sees the same one.
    fn noise(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((*state >> 11) as f64 / (1_u64 << 53) as f64) * 2.0 - 1.0
    }

    /// Revenue with a rising trend, a weekly pattern (weekends low) and ±5 % noise;
    /// also the noiseless truth, to judge the forecast against.
    fn weekly(days: usize, seed: u64) -> (Vec<i64>, Vec<f64>) {
        const WEEK: [f64; 7] = [1.0, 1.1, 1.2, 1.15, 1.3, 0.7, 0.55];
        let mut state = seed;
        let truth: Vec<f64> = (0..days)
            .map(|t| (100_000.0 + 400.0 * t as f64) * WEEK[t % 7])
            .collect();
        let values = truth[..]
            .iter()
            .map(|v| round_minor(v * (1.0 + 0.05 * noise(&mut state))))
            .collect();
        (values, truth)
    }

    fn smape(actual: &[f64], forecast: &[i64]) -> f64 {
        actual
            .iter()
            .zip(forecast)
            .map(|(&a, &f)| 2.0 * (a - f as f64).abs() / (a.abs() + (f as f64).abs()))
            .sum::<f64>()
            / actual.len() as f64
    }

    #[test]
    fn weekly_seasonal_series_with_trend_is_forecast_closely() {
        let mut coverages = Vec::new();
        for seed in [42, 7, 99, 1234] {
            let (history, truth) = weekly(120 + 28, seed);
            let out = forecast(&series(history[..120].to_vec()), 28, 0.8).unwrap();
            assert_eq!(out.method, "MSTL(period 7) + AutoETS");
            assert_eq!(out.points.len(), 28);
            assert_eq!(out.points[0].day, day("2026-05-01"));
            let means: Vec<i64> = out.points.iter().map(|p| p.mean_minor).collect();
            assert!(smape(&truth[120..], &means) < 0.15, "{means:?}");
            // The weekly shape is kept: day 123 is the pattern's peak (1.3), day 125 its
            // trough (0.55).
            assert!(
                out.points[3].mean_minor > 2 * out.points[5].mean_minor,
                "{means:?}"
            );
            let backtest = out.backtest.clone().unwrap();
            assert_eq!(backtest.holdout_days, 28);
            assert!(backtest.smape < 0.15, "{backtest:?}");
            assert!(backtest.mape.unwrap() < 0.15, "{backtest:?}");
            // Hyndman's scale is the one-step in-sample error of last week's value, a hard
            // bar for a four-week horizon: near 1 is fine, far above it is not.
            assert!(backtest.mase.unwrap() < 3.0, "{backtest:?}");
            let future = history[120..]
                .iter()
                .zip(&out.points)
                .filter(|&(&a, p)| p.lower_minor <= a && a <= p.upper_minor)
                .count();
            coverages.push(backtest.coverage);
            coverages.push(future as f64 / 28.0);
            assert_eq!(out.total_minor, means.iter().sum::<i64>());
            assert!(out.total_lower_minor < out.total_minor);
            assert!(out.total_minor < out.total_upper_minor);
            // Narrower than the sum of the daily bounds: independent errors partly cancel.
            let upper_sum: i64 = out.points.iter().map(|p| p.upper_minor).sum();
            assert!(out.total_upper_minor < upper_sum);
        }
        // The intervals leave out the seasonal estimate's error and run narrow (see the
        // module documentation): reasonable, not nominal.
        let mean_coverage = coverages.iter().sum::<f64>() / coverages.len() as f64;
        assert!(coverages.iter().all(|&c| c >= 0.4), "{coverages:?}");
        assert!((0.5..=0.95).contains(&mean_coverage), "{coverages:?}");
    }

    #[test]
    fn a_constant_series_forecasts_the_constant() {
        for days in [5, 10, 60] {
            let out = forecast(&series(vec![50_000; days]), 14, 0.8).unwrap();
            for point in &out.points {
                assert_eq!(point.mean_minor, 50_000, "{days} days: {out:?}");
            }
            assert_eq!(out.total_minor, 14 * 50_000);
        }
    }

    #[test]
    fn fewer_than_three_days_is_too_short() {
        for days in 0..MIN_DAYS {
            assert_eq!(
                forecast(&series(vec![1_000; days]), 7, 0.8),
                Err(ForecastError::TooShort { days, min_days: 3 })
            );
        }
    }

    #[test]
    fn a_level_outside_zero_one_is_refused() {
        for level in [0.0, 1.0, -0.5, 80.0, f64::NAN] {
            assert!(matches!(
                forecast(&series(vec![1_000; 30]), 7, level),
                Err(ForecastError::InvalidLevel(_))
            ));
        }
    }

    #[test]
    fn a_few_days_fall_back_to_the_mean_and_say_why() {
        let out = forecast(&series(vec![900, 1_100, 1_000, 1_000]), 3, 0.8).unwrap();
        assert!(
            out.method
                .starts_with("mean of the last 4 days (fallback: AutoETS failed"),
            "{}",
            out.method
        );
        assert!(out.points.iter().all(|p| p.mean_minor == 1_000));
        // s = √(20 000 / 3) = 81.65, t(0.9, 3 df) ≈ 1.638, √(1 + 1/4) = 1.118: ±149.5.
        let point = &out.points[0];
        assert!(
            (148..=152).contains(&(point.upper_minor - 1_000)),
            "{point:?}"
        );
        assert!(out.backtest.is_none());
    }

    #[test]
    fn zeros_never_give_negative_bounds() {
        let sparse: Vec<i64> = (0..60)
            .map(|t| if t % 9 == 0 { 40_000 } else { 0 })
            .collect();
        for values in [sparse, vec![0; 30], vec![0, 0, 0]] {
            let out = forecast(&series(values), 21, 0.95).unwrap();
            for point in &out.points {
                assert!(point.lower_minor >= 0 && point.mean_minor >= 0, "{out:?}");
                assert!(point.lower_minor <= point.mean_minor);
                assert!(point.mean_minor <= point.upper_minor);
            }
            assert!(out.total_lower_minor >= 0);
        }
    }

    #[test]
    fn an_all_zero_series_forecasts_zero_without_mape() {
        let out = forecast(&series(vec![0; 40]), 10, 0.8).unwrap();
        assert!(out.points.iter().all(|p| p.mean_minor == 0));
        let backtest = out.backtest.unwrap();
        assert_eq!(backtest.mape, None);
        assert_eq!(backtest.mase, None);
        assert_eq!(backtest.smape, 0.0);
    }

    #[test]
    fn the_same_input_gives_the_same_forecast() {
        let (history, _) = weekly(90, 42);
        let input = series(history);
        assert_eq!(forecast(&input, 30, 0.8), forecast(&input, 30, 0.8));
    }

    #[test]
    fn the_backtest_needs_a_held_out_week() {
        let (history, _) = weekly(27, 42);
        // 27 / 4 = 6 days: less than a week.
        assert!(
            forecast(&series(history.clone()), 30, 0.8)
                .unwrap()
                .backtest
                .is_none()
        );
        // A horizon shorter than a week holds out too little as well.
        let (long, _) = weekly(100, 42);
        assert!(forecast(&series(long), 6, 0.8).unwrap().backtest.is_none());
        let (history, _) = weekly(28, 42);
        let backtest = forecast(&series(history), 30, 0.8).unwrap().backtest;
        assert_eq!(backtest.map(|b| b.holdout_days), Some(7));
    }

    #[test]
    fn a_zero_horizon_is_an_empty_forecast() {
        let out = forecast(&series(vec![1_000; 20]), 0, 0.8).unwrap();
        assert!(out.points.is_empty());
        assert_eq!(
            (
                out.total_minor,
                out.total_lower_minor,
                out.total_upper_minor
            ),
            (0, 0, 0)
        );
    }

    #[test]
    fn backtest_errors_by_hand() {
        let train = [10, 20, 30, 40, 50, 60, 70, 12, 22, 32];
        let test = [100, 0, 50];
        let band = |mean, lower, upper| Band { mean, lower, upper };
        let bands = [band(90, 80, 120), band(10, 0, 20), band(50, 60, 70)];
        let b = errors(&train, &test, &bands);
        // |10| + |10| + 0 over 3 days.
        assert_eq!(b.mae_minor, 7);
        // Days with revenue: 10/100 and 0/50.
        assert_eq!(b.mape, Some(0.05));
        // 20/190, 20/10 (2.0), 0.
        assert!((b.smape - (20.0 / 190.0 + 2.0) / 3.0).abs() < 1e-12);
        // The seasonal-naive error: |12 − 10|, |22 − 20|, |32 − 30| = 2.
        assert!((b.mase.unwrap() - (20.0 / 3.0) / 2.0).abs() < 1e-12);
        // 100 and 0 inside, 50 below [60, 70].
        assert!((b.coverage - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn quantiles_match_the_tables() {
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
        assert!((normal_quantile(0.9) - 1.281_552).abs() < 1e-6);
        assert!((normal_quantile(0.005) + 2.575_829).abs() < 1e-6);
        assert!((student_t_quantile(0.9, 3.0) - 1.637_744).abs() < 0.01);
        assert!((student_t_quantile(0.975, 5.0) - 2.570_582).abs() < 0.03);
        assert!((student_t_quantile(0.9, 2.0) - 1.885_618).abs() < 0.02);
    }

    #[test]
    fn rounding_is_half_to_even() {
        assert_eq!(round_minor(2.5), 2);
        assert_eq!(round_minor(3.5), 4);
        assert_eq!(round_minor(-0.5), 0);
    }
}
