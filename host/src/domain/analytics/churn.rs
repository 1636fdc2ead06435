//! Churn risk per partner, from the trend of its own conversions, and the check of the
//! score against held-out history.
//!
//! **Input.** Per partner, its conversions per UTC day over the last N days, **oldest
//! first, ending at the as-of day** (the day the score is for, included), zeros for days
//! without conversions: one slot per day, no gaps. A caller with a table of
//! (partner, day, count) rows fills a `vec![0; N]` per partner and adds each count at
//! `N − 1 − (as_of − day)`. [`score`] takes that slice. [`Activity`] carries it with the
//! partner's id and, for a partner that joined inside the window, the index of its first
//! day, so that the days before it do not count as silence. 120 days (a 30-day recent
//! period and the 90 before it) is what the features are made for; shorter windows work
//! with less to compare against.
//!
//! **Features.** Three, each measuring how far the partner strays from its own habit:
//!
//! - *gap*: g = d / ḡ, the days since the last conversion (d, 0 when it converted on the
//!   as-of day) over its usual gap between active days (ḡ, the mean spacing of its active
//!   days in the window, at least 1; the window's length when it was active on one day
//!   only). For conversions arriving at random at the usual rate, the chance of a silence
//!   that long is about e^(−g), so g is how surprising the silence is.
//! - *drop*: ln((p + 1) / (r + 1)), where r is the conversions in the last 30 days and p
//!   the monthly average (per 30 days) of the 90 days before them (or of as many as there
//!   are). Halving is +0.69; a rise is negative and lowers the score. 0 without a prior
//!   period. The +1 keeps a partner with zero conversions finite.
//! - *decline*: −s, where s is the least-squares slope of the last (up to) 12 full weeks'
//!   counts divided by their mean: the share of an average week lost each week, positive
//!   when falling. Clamped to ±0.25 so that one feature cannot decide alone, and 0 with
//!   fewer than 4 weeks or no conversions in them.
//!
//! **Score.** A logistic combination with weights chosen by hand, not fitted (there is no
//! labelled history to fit them on yet; [`evaluate`] is how to check them on ours):
//!
//! ```text
//! z = −2.5 + 1.0·g + 1.0·drop + 4.0·decline        score = 1 / (1 + e^(−z))
//! ```
//!
//! A steady partner (g ≈ 0, drop ≈ 0, no decline) scores 0.08; a silence of three usual
//! gaps alone gives 0.62. Bands: [`RiskBand::High`] from 0.6, [`RiskBand::Medium`] from
//! 0.3, otherwise [`RiskBand::Low`]. A partner without any conversion in the window scores
//! 1 (High): there is nothing left to lose track of. Every score lists its reasons: each
//! feature that adds at least 0.25 to z, largest first.
//!
//! **Evaluation.** [`evaluate`] cuts each history `horizon_days` before its end, scores
//! the part before the cut, and calls a partner churned when it has no conversion after
//! the cut; only partners with a conversion before the cut count. It reports the AUC (the
//! chance that a churned partner outscores one that stayed, by the rank-sum formula with
//! ties counted half), precision and recall of the High band, and the Brier score.
//!
//! **Floats.** Scores are estimates, not money, so this module computes with `f64`.

#![allow(clippy::float_arithmetic)]

use serde::Serialize;

/// Days in the recent period.
pub const RECENT_DAYS: usize = 30;
/// Days in the prior period the recent one is compared with.
pub const PRIOR_DAYS: usize = 90;
/// Most weeks the decline is measured over.
const TREND_WEEKS: usize = 12;
/// Fewest weeks for a slope worth the name.
const MIN_TREND_WEEKS: usize = 4;
/// The most the decline feature may say, either way.
const DECLINE_CAP: f64 = 0.25;

const INTERCEPT: f64 = -2.5;
const WEIGHT_GAP: f64 = 1.0;
const WEIGHT_DROP: f64 = 1.0;
const WEIGHT_DECLINE: f64 = 4.0;
/// Least addition to z that is worth giving as a reason.
const REASON_MIN: f64 = 0.25;

/// Lowest score in the High band.
pub const HIGH_FROM: f64 = 0.6;
/// Lowest score in the Medium band.
pub const MEDIUM_FROM: f64 = 0.3;

/// One partner's daily conversions (see the module documentation for the layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activity {
    /// The partner.
    pub partner_id: String,
    /// Conversions per UTC day, consecutive days ending at the as-of day, oldest first.
    pub daily_conversions: Vec<u32>,
    /// The index in `daily_conversions` of the partner's first day in the program (its
    /// sign-up, or failing that its first conversion) when that falls inside the window;
    /// `None` when the partner was already there when the window began.
    pub first_active_day_index: Option<usize>,
}

impl Activity {
    /// Score the partner over its days in the program: those before
    /// `first_active_day_index` are left out, so a new partner is not taken for one that
    /// went quiet.
    pub fn score(&self) -> ChurnScore {
        let from = self
            .first_active_day_index
            .unwrap_or(0)
            .min(self.daily_conversions.len());
        score(&self.daily_conversions[from..])
    }
}

/// How likely a partner is to churn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskBand {
    /// Score below [`MEDIUM_FROM`].
    Low,
    /// Score from [`MEDIUM_FROM`] up to [`HIGH_FROM`].
    Medium,
    /// Score from [`HIGH_FROM`].
    High,
}

impl RiskBand {
    /// The band of a score.
    pub fn of(score: f64) -> Self {
        if score >= HIGH_FROM {
            RiskBand::High
        } else if score >= MEDIUM_FROM {
            RiskBand::Medium
        } else {
            RiskBand::Low
        }
    }
}

/// A partner's churn risk with the figures it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChurnScore {
    /// In 0..=1, higher is more likely to churn.
    pub score: f64,
    /// The score's band.
    pub band: RiskBand,
    /// Days since the last day with a conversion (0: the as-of day); `None` without any.
    pub days_since_last: Option<u32>,
    /// Conversions in the last 30 days.
    pub recent_30: u32,
    /// Average conversions per 30 days over the (up to) 90 days before the last 30.
    pub prior_90_monthly: f64,
    /// Slope of the weekly counts as a share of the average week per week: −0.05 is
    /// losing 5 % of an average week each week; 0 without enough weeks.
    pub trend: f64,
    /// Why, in words, largest contribution first.
    pub reasons: Vec<String>,
}

/// Score one partner's daily conversions, oldest first, ending at the as-of day (see the
/// module documentation for the formula).
pub fn score(activity: &[u32]) -> ChurnScore {
    let days = activity.len();
    let active: Vec<usize> = (0..days).filter(|&i| activity[i] > 0).collect();
    let recent_start = days.saturating_sub(RECENT_DAYS);
    let recent_30 = activity[recent_start..]
        .iter()
        .fold(0_u32, |sum, &c| sum.saturating_add(c));
    let prior = &activity[recent_start.saturating_sub(PRIOR_DAYS)..recent_start];
    let prior_90_monthly = if prior.is_empty() {
        0.0
    } else {
        sum(prior) / prior.len() as f64 * RECENT_DAYS as f64
    };
    let trend = weekly_trend(activity);
    let (Some(&first), Some(&last)) = (active.first(), active.last()) else {
        let reason = if days == 0 {
            "no activity recorded".to_owned()
        } else {
            format!("no conversions in the last {days} days")
        };
        return ChurnScore {
            score: 1.0,
            band: RiskBand::High,
            days_since_last: None,
            recent_30,
            prior_90_monthly,
            trend,
            reasons: vec![reason],
        };
    };

    let since = days - 1 - last;
    let usual_gap = if active.len() >= 2 {
        ((last - first) as f64 / (active.len() - 1) as f64).max(1.0)
    } else {
        days as f64
    };
    let gap = since as f64 / usual_gap;
    let drop = if prior.is_empty() {
        0.0
    } else {
        ((prior_90_monthly + 1.0) / (f64::from(recent_30) + 1.0)).ln()
    };
    let decline = -trend;

    let contributions = [
        (WEIGHT_GAP * gap, gap_reason(since, usual_gap, gap)),
        (
            WEIGHT_DROP * drop,
            format!(
                "{recent_30} conversions in the last {RECENT_DAYS} days against \
                 {prior_90_monthly:.1} a month in the {} days before",
                prior.len()
            ),
        ),
        (
            WEIGHT_DECLINE * decline,
            format!(
                "weekly conversions falling by {:.0} % of an average week each week",
                decline * 100.0
            ),
        ),
    ];
    let z = INTERCEPT + contributions.iter().map(|(c, _)| c).sum::<f64>();
    let score = 1.0 / (1.0 + (-z).exp());
    ChurnScore {
        score,
        band: RiskBand::of(score),
        days_since_last: Some(u32::try_from(since).unwrap_or(u32::MAX)),
        recent_30,
        prior_90_monthly,
        trend,
        reasons: reasons(contributions),
    }
}

fn gap_reason(since: usize, usual_gap: f64, gap: f64) -> String {
    format!("no conversion for {since} days, {gap:.1} times the usual gap of {usual_gap:.1} days")
}

fn reasons(mut contributions: [(f64, String); 3]) -> Vec<String> {
    contributions.sort_by(|a, b| b.0.total_cmp(&a.0));
    let reasons: Vec<String> = contributions
        .into_iter()
        .filter(|(c, _)| *c >= REASON_MIN)
        .map(|(_, reason)| reason)
        .collect();
    if reasons.is_empty() {
        vec!["activity in line with the partner's own history".to_owned()]
    } else {
        reasons
    }
}

fn sum(days: &[u32]) -> f64 {
    days.iter().map(|&c| f64::from(c)).sum()
}

/// The least-squares slope of the last full weeks' counts (the last week ends on the
/// as-of day) over their mean, clamped to ±[`DECLINE_CAP`].
fn weekly_trend(activity: &[u32]) -> f64 {
    let weeks = (activity.len() / 7).min(TREND_WEEKS);
    if weeks < MIN_TREND_WEEKS {
        return 0.0;
    }
    let start = activity.len() - weeks * 7;
    let counts: Vec<f64> = activity[start..].chunks(7).map(sum).collect();
    let n = counts.len() as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = counts.iter().sum::<f64>() / n;
    if mean_y == 0.0 {
        return 0.0;
    }
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, y) in counts.iter().enumerate() {
        let dx = i as f64 - mean_x;
        sxy += dx * (y - mean_y);
        sxx += dx * dx;
    }
    (sxy / sxx / mean_y).clamp(-DECLINE_CAP, DECLINE_CAP)
}

/// How well the score foresaw churn on held-out history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Partners judged: those with a conversion before the cut.
    pub partners: usize,
    /// Of those, how many had no conversion after it.
    pub churned: usize,
    /// Area under the ROC curve; `None` when no partner churned or all did.
    pub auc: Option<f64>,
    /// Share of the High band that churned; `None` when nobody scored High.
    pub precision_at_high: Option<f64>,
    /// Share of the churned that scored High; `None` when nobody churned.
    pub recall_at_high: Option<f64>,
    /// Mean squared difference between score and outcome (0 or 1); `None` without
    /// partners.
    pub brier: Option<f64>,
    /// Days after the cut.
    pub horizon_days: usize,
}

/// Score each history (daily counts, oldest first) as it stood `horizon_days` before its
/// end and compare with what happened after (see the module documentation). Histories no
/// longer than the horizon, and a horizon of 0, leave nothing to judge.
pub fn evaluate(histories: &[Vec<u32>], horizon_days: usize) -> Evaluation {
    let judged: Vec<(f64, bool, bool)> = histories
        .iter()
        .filter(|h| horizon_days > 0 && h.len() > horizon_days)
        .filter_map(|h| {
            let (before, after) = h.split_at(h.len() - horizon_days);
            if before.iter().all(|&c| c == 0) {
                return None;
            }
            let s = score(before);
            Some((
                s.score,
                after.iter().all(|&c| c == 0),
                s.band == RiskBand::High,
            ))
        })
        .collect();
    let partners = judged.len();
    let churned = judged.iter().filter(|j| j.1).count();
    let high = judged.iter().filter(|j| j.2).count();
    let high_churned = judged.iter().filter(|j| j.1 && j.2).count();
    let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    let brier = (partners > 0).then(|| {
        judged
            .iter()
            .map(|&(s, c, _)| (s - if c { 1.0 } else { 0.0 }).powi(2))
            .sum::<f64>()
            / partners as f64
    });
    Evaluation {
        partners,
        churned,
        auc: auc(&judged.iter().map(|&(s, c, _)| (s, c)).collect::<Vec<_>>()),
        precision_at_high: ratio(high_churned, high),
        recall_at_high: ratio(high_churned, churned),
        brier,
        horizon_days,
    }
}

/// The AUC by the rank-sum (Mann–Whitney) formula, (R₊ − n₊(n₊ + 1)/2) / (n₊·n₋), where
/// R₊ is the sum of the positives' ranks among all scores, tied scores sharing their
/// average rank; `None` when either class is empty.
fn auc(scored: &[(f64, bool)]) -> Option<f64> {
    let positives = scored.iter().filter(|s| s.1).count();
    let negatives = scored.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut sorted = scored.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1].0 == sorted[i].0 {
            j += 1;
        }
        // Ranks i + 1 ..= j + 1 shared by the tie.
        let rank = (i + j + 2) as f64 / 2.0;
        rank_sum += rank * sorted[i..=j].iter().filter(|s| s.1).count() as f64;
        i = j + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random uniform in [0, 1) (a 64-bit LCG).
    fn uniform(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*state >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// A Poisson draw (Knuth's method: fine for the small rates of daily conversions).
    fn poisson(rate: f64, state: &mut u64) -> u32 {
        let limit = (-rate).exp();
        let (mut k, mut p) = (0, uniform(state));
        while p > limit {
            k += 1;
            p *= uniform(state);
        }
        k
    }

    fn days(rate: impl Fn(usize) -> f64, len: usize, seed: u64) -> Vec<u32> {
        let mut state = seed;
        (0..len).map(|t| poisson(rate(t), &mut state)).collect()
    }

    #[test]
    fn a_partner_that_stopped_40_days_ago_is_high() {
        let mut history = days(|_| 3.0, 80, 1);
        history.extend([0; 40]);
        let s = score(&history);
        assert_eq!(s.band, RiskBand::High, "{s:?}");
        assert!(s.score > 0.95);
        assert_eq!(
            s.days_since_last,
            Some(40 + (79 - last_active(&history[..80])))
        );
        assert_eq!(s.recent_30, 0);
        assert!(
            s.reasons[0].starts_with("no conversion for 4"),
            "{:?}",
            s.reasons
        );
    }

    fn last_active(days: &[u32]) -> u32 {
        days.iter().rposition(|&c| c > 0).unwrap() as u32
    }

    #[test]
    fn a_steady_partner_is_low() {
        let s = score(&days(|_| 2.0, 120, 2));
        assert_eq!(s.band, RiskBand::Low, "{s:?}");
        assert!(s.score < 0.15);
        assert_eq!(
            s.reasons,
            vec!["activity in line with the partner's own history".to_owned()]
        );
        // About 60 a month either way.
        assert!((40.0..80.0).contains(&s.prior_90_monthly), "{s:?}");
        assert!(s.trend.abs() < 0.05, "{s:?}");
    }

    #[test]
    fn a_declining_partner_scores_above_a_steady_one() {
        let steady = score(&days(|_| 3.5, 120, 3));
        let declining = score(&days(|t| 6.0 - 5.0 * t as f64 / 119.0, 120, 3));
        assert!(
            declining.score > steady.score,
            "{declining:?} vs {steady:?}"
        );
        assert!(declining.trend < -0.02, "{declining:?}");
        assert!(f64::from(declining.recent_30) < declining.prior_90_monthly);
    }

    #[test]
    fn features_by_hand() {
        // 90 prior days with a conversion every third day (30), then 30 days with one
        // every sixth day (5), the last on the as-of day.
        let mut history: Vec<u32> = (0..90).map(|t| u32::from(t % 3 == 2)).collect();
        history.extend((0..30).map(|t| u32::from(t % 6 == 5)));
        let s = score(&history);
        assert_eq!(s.days_since_last, Some(0));
        assert_eq!(s.recent_30, 5);
        assert!((s.prior_90_monthly - 10.0).abs() < 1e-12);
        // drop = ln(11 / 6) = 0.606; gap 0; the 12 weeks' slope is negative but small.
        assert!(s.trend < 0.0);
        let z = INTERCEPT + (11.0_f64 / 6.0).ln() - WEIGHT_DECLINE * s.trend;
        assert!((s.score - 1.0 / (1.0 + (-z).exp())).abs() < 1e-12);
        assert!(s.reasons[0].starts_with("5 conversions in the last 30 days against 10.0"));
    }

    #[test]
    fn no_activity_is_high_with_a_reason() {
        let empty = score(&[]);
        assert_eq!((empty.score, empty.band), (1.0, RiskBand::High));
        assert_eq!(empty.reasons, vec!["no activity recorded".to_owned()]);
        let zeros = score(&[0; 120]);
        assert_eq!((zeros.score, zeros.band), (1.0, RiskBand::High));
        assert_eq!(zeros.days_since_last, None);
        assert_eq!(
            zeros.reasons,
            vec!["no conversions in the last 120 days".to_owned()]
        );
    }

    #[test]
    fn a_new_partner_is_not_taken_for_a_quiet_one() {
        let mut history = vec![0; 100];
        history.extend(days(|_| 2.0, 20, 4));
        let activity = Activity {
            partner_id: "p-new".into(),
            daily_conversions: history,
            first_active_day_index: Some(100),
        };
        let s = activity.score();
        assert_eq!(s.band, RiskBand::Low, "{s:?}");
        // No prior period inside its 20 days.
        assert_eq!(s.prior_90_monthly, 0.0);
        let beyond = Activity {
            first_active_day_index: Some(500),
            ..activity
        };
        assert_eq!(beyond.score().band, RiskBand::High);
    }

    #[test]
    fn bands_and_serde_names() {
        assert_eq!(RiskBand::of(0.29), RiskBand::Low);
        assert_eq!(RiskBand::of(0.3), RiskBand::Medium);
        assert_eq!(RiskBand::of(0.6), RiskBand::High);
        assert_eq!(
            serde_json::to_string(&RiskBand::Medium).unwrap(),
            "\"medium\""
        );
    }

    #[test]
    fn auc_counts_ties_half() {
        let scored = [(0.8, true), (0.5, true), (0.5, false), (0.2, false)];
        assert_eq!(auc(&scored), Some(3.5 / 4.0));
        assert_eq!(auc(&[(0.1, true), (0.9, false)]), Some(0.0));
        assert_eq!(auc(&[(0.1, true)]), None);
    }

    /// Steady partners, partners that fade and stop shortly before the cut, decliners that
    /// slow down but go on, sporadic ones that may be silent by chance, and a few that
    /// stop without warning at the cut.
    fn synthetic(len: usize, horizon: usize) -> Vec<Vec<u32>> {
        let cut = len - horizon;
        let mut histories = Vec::new();
        for k in 0..20_u64 {
            let rate = 0.5 + 0.2 * k as f64;
            histories.push(days(|_| rate, len, 100 + k));
            // Silent from 20 days before the cut to the day before it: the last of them
            // show no gap yet, only their fading.
            let stop = cut - 20 + k as usize;
            histories.push(days(
                move |t| {
                    if t >= stop {
                        0.0
                    } else {
                        rate * (1.0 - 0.6 * t as f64 / stop as f64)
                    }
                },
                len,
                200 + k,
            ));
        }
        for k in 0..10_u64 {
            histories.push(days(|t| 3.0 - 2.0 * t as f64 / len as f64, len, 300 + k));
            histories.push(days(|_| 0.1, len, 400 + k));
        }
        // Churn that nothing foretells: steady to the cut, then gone.
        for k in 0..5_u64 {
            let rate = 1.0 + k as f64;
            histories.push(days(|t| if t < cut { rate } else { 0.0 }, len, 500 + k));
        }
        histories
    }

    #[test]
    fn evaluation_on_synthetic_histories_separates_churners() {
        let e = evaluate(&synthetic(150, 30), 30);
        assert_eq!(e.horizon_days, 30);
        assert_eq!(e.partners, 65);
        assert!(e.churned >= 25, "{e:?}");
        assert!(e.auc.unwrap() > 0.8, "{e:?}");
        assert!(e.precision_at_high.unwrap() > 0.8, "{e:?}");
        assert!(e.recall_at_high.unwrap() > 0.5, "{e:?}");
        assert!(e.brier.unwrap() < 0.2, "{e:?}");
    }

    #[test]
    fn evaluation_edge_cases() {
        let nothing = evaluate(&[], 30);
        assert_eq!(
            nothing,
            Evaluation {
                partners: 0,
                churned: 0,
                auc: None,
                precision_at_high: None,
                recall_at_high: None,
                brier: None,
                horizon_days: 30,
            }
        );
        // Too short, silent before the cut, or a zero horizon: nobody to judge.
        let histories = vec![vec![1; 20], vec![0; 100], vec![1; 100]];
        assert_eq!(evaluate(&histories[..2], 30).partners, 0);
        assert_eq!(evaluate(&histories, 0).partners, 0);
        // One partner, still active: one class only.
        let one = evaluate(&histories, 30);
        assert_eq!((one.partners, one.churned, one.auc), (1, 0, None));
        assert_eq!(one.recall_at_high, None);
        assert!(one.brier.unwrap() < 0.1);
    }
}
