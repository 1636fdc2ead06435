//! The engine and store conformance suite: every case runs on PostgreSQL and on SQLite,
//! each on a fresh database, with the real default plug-ins.

use super::*;
use crate::domain::fx::FxRate;
use crate::domain::ledger::{EventKind, Status};
use crate::domain::program::{RateTable, TierRate, VolumeMetric, VolumeTier, default_tiers};
use crate::domain::{Currency, DomainError};
use crate::plugins::{Limits, Runtime, World};
use crate::store::{EntryFilter, LedgerWrite, NewEvent, PartnerRecord, Store};
use crate::testing::TestDb;
use accrue_plugin_sdk::decimal::dec;
use pricing::{Lookups, Overrides};
use rust_decimal::Decimal;
use std::sync::{Arc, OnceLock};

mod analytics;
mod approval;
mod payout_profiles;
mod payouts;

/// 2026-03-10T12:00:00Z
const T0: i64 = 1_773_144_000_000;
const DAY: i64 = 86_400_000;

fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Arc::new(Runtime::new(Limits::default(), None).expect("runtime")))
        .clone()
}

struct Fixture {
    engine: Engine,
    db: Option<TestDb>,
}

impl Fixture {
    async fn new(db: TestDb) -> Self {
        let store = Store::connect(&db.url, 10).await.expect("connect");
        store.migrate().await.expect("migrate");
        Self::with_store(db, store).await
    }

    /// A fixture over `store`, a connection of its own to the migrated `db` (another pool
    /// size, another role); loads the plug-ins.
    async fn with_store(db: TestDb, store: Store) -> Self {
        // With a key, so payout methods and TINs are set through the engine's commands.
        let engine = Engine::new(store, runtime()).with_secrets(Sealer::new(&[7; 32]));
        engine.load_plugins().await.expect("plug-ins");
        assert!(
            engine
                .wait_for_plugins(std::time::Duration::from_secs(300))
                .await,
            "plug-ins compiled"
        );
        Self {
            engine,
            db: Some(db),
        }
    }

    async fn finish(mut self) {
        let problems = self
            .engine
            .store()
            .check_invariants()
            .await
            .expect("invariants");
        assert!(
            problems.is_empty(),
            "ledger invariants broken: {problems:#?}"
        );
        self.engine.store().close().await;
        if let Some(db) = self.db.take() {
            db.drop_db().await;
        }
    }

    async fn program(&self, id: &str, attribution: &str, config: serde_json::Value) {
        self.program_with(id, attribution, config, None, default_tiers(), Vec::new())
            .await;
    }

    async fn program_with(
        &self,
        id: &str,
        attribution: &str,
        config: serde_json::Value,
        geo: Option<serde_json::Value>,
        tiers: std::collections::BTreeMap<String, TierRate>,
        volume_tiers: Vec<VolumeTier>,
    ) {
        let e = &self.engine;
        let attribution = e
            .resolve_plugin(
                &PluginRef {
                    plugin: attribution.into(),
                    config,
                },
                World::Attribution,
                id,
                "attribution",
            )
            .await
            .expect("attribution plug-in");
        let geo_rate = match geo {
            Some(config) => Some(
                e.resolve_plugin(
                    &PluginRef {
                        plugin: "geo-rates".into(),
                        config,
                    },
                    World::GeoRate,
                    id,
                    "geo_rate",
                )
                .await
                .expect("geo plug-in"),
            ),
            None => None,
        };
        let program = Program {
            id: id.into(),
            name: format!("Program {id}"),
            currency: Currency::parse("USD").expect("usd"),
            attribution,
            geo_rate,
            bonus: None,
            lookback_days: 30,
            hold_days: 14,
            max_bonus_share: Decimal::ONE,
        };
        let rates = RateTable {
            version: 1,
            effective_from_ms: 0,
            tiers,
            volume_tiers,
        };
        e.create_program(&program, rates).await.expect("program");
    }

    /// A program in `currency` with the bonus plug-in `tier-bonus` bound with `bonus`, and
    /// the bonus cap `max_bonus_share`.
    async fn program_in(
        &self,
        id: &str,
        attribution: &str,
        currency: &str,
        bonus: serde_json::Value,
        max_bonus_share: Decimal,
    ) {
        let e = &self.engine;
        let binding = |plugin: &str, config: serde_json::Value| PluginRef {
            plugin: plugin.into(),
            config,
        };
        let program = Program {
            id: id.into(),
            name: format!("Program {id}"),
            currency: Currency::parse(currency).expect("currency"),
            attribution: e
                .resolve_plugin(
                    &binding(attribution, serde_json::json!({})),
                    World::Attribution,
                    id,
                    "attribution",
                )
                .await
                .expect("attribution plug-in"),
            geo_rate: None,
            bonus: Some(
                e.resolve_plugin(&binding("tier-bonus", bonus), World::Bonus, id, "bonus")
                    .await
                    .expect("bonus plug-in"),
            ),
            lookback_days: 30,
            hold_days: 14,
            max_bonus_share,
        };
        let rates = RateTable {
            version: 1,
            effective_from_ms: 0,
            tiers: default_tiers(),
            volume_tiers: Vec::new(),
        };
        e.create_program(&program, rates).await.expect("program");
    }

    async fn partner(&self, id: &str, program: &str, tier: &str, payout: &str) {
        let p = PartnerRecord {
            id: id.into(),
            program_id: program.into(),
            name: None,
            country: Some("US".into()),
            payout_currency: Currency::parse(payout).expect("currency"),
            tiers: vec![(0, tier.into())],
            created_at_ms: T0,
        };
        self.engine.create_partner(&p).await.expect("partner");
    }

    async fn ingest(&self, input: &ConversionInput) -> ConversionResult {
        match self.engine.ingest(input).await.expect("ingest") {
            IngestOutcome::Created(r) => r,
            other => panic!("expected a new conversion, got {other:?}"),
        }
    }

    async fn balance(&self, partner: &str) -> Vec<crate::domain::ledger::Balance> {
        self.engine.balance(partner).await.expect("balance")
    }
}

fn conversion(program: &str, id: &str, amount: &str, touches: &[(&str, i64)]) -> ConversionInput {
    ConversionInput {
        program_id: program.into(),
        id: id.into(),
        amount: dec(amount),
        currency: "USD".into(),
        occurred_at_ms: T0,
        customer_id: Some("cust-1".into()),
        country: Some("US".into()),
        region: Some("US-CA".into()),
        new_customer: true,
        attributes: Vec::new(),
        touchpoints: touches
            .iter()
            .map(|(partner, days_before)| TouchpointInput {
                partner_id: (*partner).into(),
                channel: "email".into(),
                occurred_at_ms: T0 - days_before * DAY,
                campaign: None,
            })
            .collect(),
        signals: Default::default(),
    }
}

fn amounts(r: &ConversionResult) -> Vec<(String, String)> {
    r.commissions
        .iter()
        .map(|c| (c.partner_id.clone(), c.amount.to_string()))
        .collect()
}

/// Run one async case against PostgreSQL and SQLite, each on a fresh database.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = crate::testing::TestDb::postgres().await.expect("PostgreSQL (set DATABASE_URL)");
                super::$name(super::Fixture::new(db).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Fixture::new(crate::testing::TestDb::sqlite()).await).await;
            }
        }
    )*};
}

use analytics::{
    fraud_rules_raise_alerts_and_freeze, rebuilt_funnel_buckets_match_the_jobs,
    rollups_equal_a_scan_of_the_raw_tables,
};
use approval::approves_exactly_what_came_due;
use payout_profiles::{
    partners_reach_only_their_own_profiles, payout_methods_are_checked_sealed_and_masked,
    tax_profiles_and_withholding_rules_are_checked,
};
use payouts::{
    payout_bank_feedback_pays_fails_and_returns,
    payout_export_fails_an_item_frozen_after_the_draft,
    payout_export_writes_sepa_and_a_wire_file_per_currency,
    payout_holds_methods_the_schedule_or_currency_cannot_pay,
    payout_nacha_returns_name_items_of_their_own_run,
    payout_release_during_the_draft_keeps_the_claim,
    payout_steps_answer_a_retry_with_the_first_answer,
    payout_withholds_w8_payees_by_rule_and_treaty,
};
use payouts::{
    payout_dry_run_writes_nothing, payout_histories_keep_their_properties,
    payout_nets_a_refund_after_payout, payout_outcomes_pay_fail_and_return,
    payout_run_nets_withholds_and_charges_fees, payout_runs_started_at_once_claim_each_entry_once,
    payout_schedule_runs_once_per_pay_day, payout_second_approval_and_cancel,
    payout_skips_frozen_and_nets_upheld_disputes, payout_threshold_carries_the_balance_over,
    payout_without_tax_form_is_held_with_a_notice, refund_after_upheld_dispute_claws_back_once,
};

on_both!(
    rollups_equal_a_scan_of_the_raw_tables,
    rebuilt_funnel_buckets_match_the_jobs,
    fraud_rules_raise_alerts_and_freeze,
    approves_exactly_what_came_due,
    each_attribution_model_to_the_cent,
    idempotent_replay_and_conflict,
    rejections_each_have_their_own_error,
    refunds_reverse_proportionally_and_fully,
    refund_after_payout_is_a_clawback,
    disputes_freeze_then_release_or_reverse,
    adjustment_reprices_and_is_idempotent,
    rate_changes_apply_to_new_conversions_only,
    tier_changes_take_effect_from_their_date,
    fx_converts_at_the_recorded_rate,
    volume_and_geo_rates_stack,
    batch_ingests_in_one_transaction,
    crash_mid_batch_leaves_nothing,
    batches_store_any_text_exactly,
    quote_stores_nothing,
    approval_after_the_hold_period,
    period_close_pays_tier_bonuses_once,
    replay_reproduces_commissions_exactly,
    large_amounts_split_exactly_and_larger_ones_are_refused,
    amounts_read_back_with_their_currency_scale,
    current_currencies_are_accepted_and_withdrawn_ones_kept_for_stored_data,
    bonuses_above_the_program_cap_are_refused_per_partner,
    partners_dispute_only_their_own_entries,
    money_commands_answer_a_retry_with_the_first_answer,
    plugin_registrations_are_per_program,
    payout_methods_are_checked_sealed_and_masked,
    partners_reach_only_their_own_profiles,
    tax_profiles_and_withholding_rules_are_checked,
    payout_run_nets_withholds_and_charges_fees,
    payout_threshold_carries_the_balance_over,
    payout_without_tax_form_is_held_with_a_notice,
    payout_skips_frozen_and_nets_upheld_disputes,
    payout_nets_a_refund_after_payout,
    payout_outcomes_pay_fail_and_return,
    payout_second_approval_and_cancel,
    payout_dry_run_writes_nothing,
    payout_schedule_runs_once_per_pay_day,
    payout_histories_keep_their_properties,
    payout_runs_started_at_once_claim_each_entry_once,
    refund_after_upheld_dispute_claws_back_once,
    payout_withholds_w8_payees_by_rule_and_treaty,
    payout_export_writes_sepa_and_a_wire_file_per_currency,
    payout_export_fails_an_item_frozen_after_the_draft,
    payout_bank_feedback_pays_fails_and_returns,
    payout_holds_methods_the_schedule_or_currency_cannot_pay,
    payout_nacha_returns_name_items_of_their_own_run,
    payout_release_during_the_draft_keeps_the_claim,
    payout_steps_answer_a_retry_with_the_first_answer,
);

async fn each_attribution_model_to_the_cent(f: Fixture) {
    let touches = [("a", 10), ("b", 5), ("c", 3), ("b", 1)];
    type Case = (
        &'static str,
        serde_json::Value,
        Vec<(&'static str, &'static str)>,
    );
    let cases: [Case; 5] = [
        ("first-touch", serde_json::json!({}), vec![("a", "6.50")]),
        ("last-touch", serde_json::json!({}), vec![("b", "19.48")]),
        // 25 % / 50 % / 25 % of 129.90 = 32.48 / 64.95 / 32.47 (largest remainder); rates 5/15/25 %.
        (
            "linear",
            serde_json::json!({}),
            vec![("a", "1.62"), ("b", "9.74"), ("c", "8.12")],
        ),
        // 40 / 50 / 10 %: 51.96 / 64.95 / 12.99.
        (
            "position-based",
            serde_json::json!({}),
            vec![("a", "2.60"), ("b", "9.74"), ("c", "3.25")],
        ),
        // 2^(−age/7 days): weights ≈ 0.1413 / 0.5762 / 0.2825 → 18.35 / 74.85 / 36.70.
        (
            "time-decay",
            serde_json::json!({"half_life_days": 7}),
            vec![("a", "0.92"), ("b", "11.23"), ("c", "9.18")],
        ),
    ];
    for (model, config, expected) in cases {
        f.program(model, model, config).await;
        f.partner(&format!("{model}-a"), model, "starter", "USD")
            .await;
        f.partner(&format!("{model}-b"), model, "professional", "USD")
            .await;
        f.partner(&format!("{model}-c"), model, "enterprise", "USD")
            .await;
        let t: Vec<(String, i64)> = touches
            .iter()
            .map(|(p, d)| (format!("{model}-{p}"), *d))
            .collect();
        let t: Vec<(&str, i64)> = t.iter().map(|(p, d)| (p.as_str(), *d)).collect();
        let r = f.ingest(&conversion(model, "c1", "129.90", &t)).await;
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(p, a)| (format!("{model}-{p}"), (*a).to_owned()))
            .collect();
        assert_eq!(amounts(&r), expected, "{model}");
        let attributed: Decimal = r.commissions.iter().map(|c| c.attributed_amount).sum();
        assert_eq!(
            attributed,
            dec("129.90"),
            "{model}: attributed revenue is conserved"
        );
    }
    f.finish().await;
}

async fn idempotent_replay_and_conflict(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    let input = conversion("p", "order-1", "100.00", &[("a", 1)]);
    let first = f.ingest(&input).await;
    match f.engine.ingest(&input).await.expect("replay") {
        IngestOutcome::Replayed(r) => assert_eq!(r, first),
        other => panic!("expected a replay, got {other:?}"),
    }
    let mut changed = input.clone();
    changed.amount = dec("100.01");
    let e = f.engine.ingest(&changed).await.expect_err("conflict");
    assert_eq!(e.kind(), "idempotency-conflict");
    assert_eq!(
        f.engine
            .store()
            .count_conversions(Some("p"))
            .await
            .expect("count"),
        1
    );
    f.finish().await;
}

async fn rejections_each_have_their_own_error(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    f.program("other", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    f.partner("eur", "p", "starter", "EUR").await;
    f.partner("outsider", "other", "starter", "USD").await;
    f.ingest(&conversion("p", "taken", "10.00", &[("a", 1)]))
        .await;
    let ok = conversion("p", "x", "10.00", &[("a", 1)]);
    let cases: Vec<(&str, ConversionInput, &str)> = vec![
        (
            "unknown program",
            ConversionInput {
                program_id: "nope".into(),
                ..ok.clone()
            },
            "unknown-program",
        ),
        (
            "unknown partner",
            conversion("p", "x", "10.00", &[("ghost", 1)]),
            "unknown-partner",
        ),
        (
            "unknown currency",
            ConversionInput {
                currency: "XYZ".into(),
                ..ok.clone()
            },
            "unknown-currency",
        ),
        (
            "missing FX rate",
            conversion("p", "x", "10.00", &[("eur", 1)]),
            "missing-fx-rate",
        ),
        (
            "negative amount",
            ConversionInput {
                amount: dec("-1.00"),
                ..ok.clone()
            },
            "negative-amount",
        ),
        (
            "too precise",
            ConversionInput {
                amount: dec("1.001"),
                ..ok.clone()
            },
            "too-precise",
        ),
        (
            "partner outside program",
            conversion("p", "x", "10.00", &[("outsider", 1)]),
            "partner-outside-program",
        ),
        (
            "duplicate key, other payload",
            conversion("p", "taken", "99.00", &[("a", 1)]),
            "idempotency-conflict",
        ),
    ];
    for (what, input, kind) in cases {
        let e = f.engine.ingest(&input).await.expect_err(what);
        assert_eq!(e.kind(), kind, "{what}: {e}");
    }
    assert_eq!(
        f.engine
            .store()
            .count_conversions(None)
            .await
            .expect("count"),
        1,
        "nothing half-written"
    );
    f.finish().await;
}

async fn refunds_reverse_proportionally_and_fully(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    f.partner("b", "p", "white-label", "USD").await;
    let r = f
        .ingest(&conversion("p", "o1", "99.99", &[("a", 2), ("b", 1)]))
        .await;
    assert_eq!(
        amounts(&r),
        vec![("a".into(), "2.50".into()), ("b".into(), "20.00".into())]
    );
    let partial = f
        .engine
        .refund("p", "o1", "r1", Some(dec("33.33")))
        .await
        .expect("partial refund");
    assert_eq!(partial.refunded_total, dec("33.33"));
    assert_eq!(
        partial
            .reversals
            .iter()
            .map(|r| r.amount)
            .collect::<Vec<_>>(),
        vec![dec("-0.83"), dec("-6.67")]
    );
    let rest = f
        .engine
        .refund("p", "o1", "r2", None)
        .await
        .expect("full refund");
    assert_eq!(rest.refunded_total, dec("99.99"));
    for partner in ["a", "b"] {
        let b = f.balance(partner).await;
        assert_eq!(
            b[0].total,
            Decimal::ZERO,
            "{partner} balance back to exactly zero"
        );
    }
    let e = f
        .engine
        .refund("p", "o1", "r3", Some(dec("0.01")))
        .await
        .expect_err("nothing left");
    assert_eq!(e.kind(), "conflict");
    let e = f
        .engine
        .refund("p", "o1", "r2", Some(dec("0.01")))
        .await
        .expect_err("reused refund id");
    assert_eq!(e.kind(), "idempotency-conflict");
    f.finish().await;
}

async fn refund_after_payout_is_a_clawback(f: Fixture) {
    f.program("p", "first-touch", serde_json::json!({})).await;
    f.partner("a", "p", "professional", "USD").await;
    f.ingest(&conversion("p", "o1", "200.00", &[("a", 1)]))
        .await;
    assert_eq!(
        f.engine.approve_due(T0 + 15 * DAY).await.expect("approve"),
        1
    );
    let entry = f
        .engine
        .store()
        .entries(&EntryFilter {
            partner_id: Some("a".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("entries")[0]
        .clone();
    assert_eq!(entry.status, Status::Approved);
    // A payout run pays it (payouts are their own feature; here the event is written directly).
    f.engine
        .store()
        .write_ledger(&LedgerWrite {
            events: vec![NewEvent {
                entry_id: entry.id,
                event: EventKind::Paid,
                reason: "payout test".into(),
            }],
            ..Default::default()
        })
        .await
        .expect("paid");
    f.engine
        .refund("p", "o1", "r1", None)
        .await
        .expect("refund");
    let b = &f.balance("a").await[0];
    assert_eq!(b.paid, dec("30.00"));
    assert_eq!(
        b.approved,
        dec("-30.00"),
        "the clawback is carried to the next payout"
    );
    assert_eq!(b.total, Decimal::ZERO);
    f.finish().await;
}

async fn disputes_freeze_then_release_or_reverse(f: Fixture) {
    f.program("p", "first-touch", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    f.ingest(&conversion("p", "o1", "100.00", &[("a", 1)]))
        .await;
    f.ingest(&conversion("p", "o2", "100.00", &[("a", 1)]))
        .await;
    let open = |id: &str| OpenDispute {
        program_id: "p".into(),
        conversion_id: id.into(),
        entry_id: None,
        opened_by: "key_admin".into(),
        scope: Scope::Admin,
        reason: "fraud?".into(),
        idempotency_key: None,
    };
    let d1 = f.engine.open_dispute(&open("o1")).await.expect("open");
    let d2 = f.engine.open_dispute(&open("o2")).await.expect("open");
    assert_eq!(f.balance("a").await[0].frozen, dec("10.00"));
    // Frozen entries are not approved when their hold ends.
    assert_eq!(
        f.engine.approve_due(T0 + 30 * DAY).await.expect("approve"),
        0
    );
    let r = f
        .engine
        .resolve_dispute(&d1.id, DisputeOutcome::Rejected, "key_admin", "legit", None)
        .await
        .expect("reject");
    assert_eq!(r.status, crate::domain::ledger::DisputeStatus::Rejected);
    let u = f
        .engine
        .resolve_dispute(&d2.id, DisputeOutcome::Upheld, "key_admin", "fraud", None)
        .await
        .expect("uphold");
    assert_eq!(u.status, crate::domain::ledger::DisputeStatus::Upheld);
    let e = f
        .engine
        .resolve_dispute(&d2.id, DisputeOutcome::Rejected, "key_admin", "again", None)
        .await
        .expect_err("closed");
    assert_eq!(e.kind(), "conflict");
    let b = &f.balance("a").await[0];
    assert_eq!(b.frozen, Decimal::ZERO);
    assert_eq!(b.total, dec("5.00"), "o1 stands, o2 is reversed");
    f.finish().await;
}

async fn adjustment_reprices_and_is_idempotent(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    f.partner("b", "p", "starter", "USD").await;
    f.ingest(&conversion("p", "o1", "100.00", &[("a", 1)]))
        .await;
    f.ingest(&conversion("p", "o2", "50.00", &[("a", 2), ("b", 1)]))
        .await;
    f.engine
        .refund("p", "o1", "r1", Some(dec("50.00")))
        .await
        .expect("refund");
    let req = starter_at_8_percent("starter rate was 8 % all along", None);
    // A dry run (shadow evaluation) reports the same changes and writes nothing.
    let shadow = f
        .engine
        .adjust(&AdjustmentRequest {
            dry_run: true,
            ..req.clone()
        })
        .await
        .expect("dry run");
    assert_eq!(shadow.changes.len(), 3);
    assert_eq!(
        f.balance("a").await[0].total,
        dec("3.75"),
        "nothing written by the dry run"
    );
    let first = f.engine.adjust(&req).await.expect("adjust");
    assert_eq!(first.conversions_examined, 2);
    let deltas: Vec<(String, String, String)> = first
        .changes
        .iter()
        .map(|c| {
            (
                c.conversion_id.clone(),
                c.partner_id.clone(),
                c.delta.to_string(),
            )
        })
        .collect();
    // o1: 100 × 8 % = 8.00, half refunded → 4.00 net, was 2.50 → +1.50. o2: 25.00 each, 1.25 → 2.00.
    assert_eq!(
        deltas,
        vec![
            ("o1".into(), "a".into(), "1.50".into()),
            ("o2".into(), "a".into(), "0.75".into()),
            ("o2".into(), "b".into(), "0.75".into()),
        ]
    );
    let second = f.engine.adjust(&req).await.expect("adjust again");
    assert!(
        second.changes.is_empty(),
        "the second run changes nothing: {:?}",
        second.changes
    );
    assert_eq!(f.balance("a").await[0].total, dec("6.00"));
    f.finish().await;
}

async fn rate_changes_apply_to_new_conversions_only(f: Fixture) {
    f.program("p", "first-touch", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    let before = f
        .ingest(&conversion("p", "o1", "100.00", &[("a", 1)]))
        .await;
    let mut tiers = default_tiers();
    tiers.insert(
        "starter".into(),
        TierRate {
            base: dec("0.07"),
            bonus: dec("0.02"),
        },
    );
    f.engine
        .add_rate_table(
            "p",
            RateTable {
                version: 0,
                effective_from_ms: 0,
                tiers,
                volume_tiers: Vec::new(),
            },
            Some(T0 + 1),
        )
        .await
        .expect("new rates");
    let mut later = conversion("p", "o2", "100.00", &[("a", 1)]);
    later.occurred_at_ms = T0 + 10;
    let after = f.ingest(&later).await;
    assert_eq!(before.commissions[0].amount, dec("5.00"));
    assert_eq!(after.commissions[0].amount, dec("7.00"));
    let entries = f
        .engine
        .store()
        .entries(&EntryFilter {
            conversion_id: Some("o1".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("entries");
    assert_eq!(entries[0].amount, dec("5.00"), "history is not rewritten");
    assert!(
        entries[0]
            .provenance
            .as_deref()
            .unwrap_or_default()
            .contains("\"rate_table_version\":1")
    );
    f.finish().await;
}

async fn tier_changes_take_effect_from_their_date(f: Fixture) {
    f.program("p", "first-touch", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    let mut partner = f.engine.partner("a").await.expect("partner");
    f.engine
        .update_partner(&partner, Some((T0 + DAY, "enterprise")))
        .await
        .expect("promote");
    partner = f.engine.partner("a").await.expect("partner");
    assert_eq!(partner.tier_at(T0), "starter");
    assert_eq!(partner.tier_at(T0 + DAY), "enterprise");
    let before = f
        .ingest(&conversion("p", "o1", "100.00", &[("a", 1)]))
        .await;
    let mut later = conversion("p", "o2", "100.00", &[("a", 1)]);
    later.occurred_at_ms = T0 + 2 * DAY;
    later.touchpoints[0].occurred_at_ms = T0 + DAY;
    let after = f.ingest(&later).await;
    assert_eq!(
        (before.commissions[0].amount, after.commissions[0].amount),
        (dec("5.00"), dec("25.00"))
    );
    let e = f
        .engine
        .update_partner(&partner, Some((T0, "gold")))
        .await
        .expect_err("unknown tier");
    assert_eq!(e.kind(), "invalid-input");
    f.finish().await;
}

async fn fx_converts_at_the_recorded_rate(f: Fixture) {
    f.program("p", "first-touch", serde_json::json!({})).await;
    f.partner("jp", "p", "professional", "JPY").await;
    f.partner("kw", "p", "professional", "KWD").await;
    let usd = Currency::parse("USD").expect("usd");
    let jpy = Currency::parse("JPY").expect("jpy");
    let kwd = Currency::parse("KWD").expect("kwd");
    f.engine
        .put_fx_rate(&FxRate {
            base: usd,
            quote: jpy,
            rate: dec("150.00"),
            effective_from_ms: T0 - 10 * DAY,
        })
        .await
        .expect("fx");
    f.engine
        .put_fx_rate(&FxRate {
            base: usd,
            quote: jpy,
            rate: dec("155.00"),
            effective_from_ms: T0 + DAY,
        })
        .await
        .expect("fx");
    // Only KWD → USD is recorded: the inverse is used, cut toward zero.
    f.engine
        .put_fx_rate(&FxRate {
            base: kwd,
            quote: usd,
            rate: dec("3.25"),
            effective_from_ms: T0 - DAY,
        })
        .await
        .expect("fx");
    let r = f
        .ingest(&conversion("p", "o1", "33.33", &[("jp", 1)]))
        .await;
    let line = &r.commissions[0];
    assert_eq!(
        (
            line.amount,
            line.payout_amount,
            line.payout_currency.as_str(),
            line.fx_rate
        ),
        (dec("5.00"), dec("750"), "JPY", dec("150.00"))
    );
    let r = f
        .ingest(&conversion("p", "o2", "100.00", &[("kw", 1)]))
        .await;
    assert_eq!(r.commissions[0].payout_amount, dec("4.615"));
    let e = f
        .engine
        .put_fx_rate(&FxRate {
            base: usd,
            quote: jpy,
            rate: dec("1"),
            effective_from_ms: T0 + DAY,
        })
        .await
        .expect_err("rewrite");
    assert_eq!(e.kind(), "conflict");
    let bad = FxRate {
        base: usd,
        quote: usd,
        rate: dec("1"),
        effective_from_ms: 0,
    };
    assert!(matches!(
        f.engine.put_fx_rate(&bad).await,
        Err(EngineError::Domain(DomainError::Invalid { .. }))
    ));
    f.finish().await;
}

async fn volume_and_geo_rates_stack(f: Fixture) {
    let volume = vec![VolumeTier {
        metric: VolumeMetric::Conversions,
        threshold: dec("2"),
        add_rate: dec("0.01"),
    }];
    let geo = serde_json::json!({"multipliers": {"US-CA": "1.5"}});
    f.program_with(
        "p",
        "first-touch",
        serde_json::json!({}),
        Some(geo),
        default_tiers(),
        volume,
    )
    .await;
    f.partner("a", "p", "starter", "USD").await;
    let mut amounts = Vec::new();
    for i in 0..3 {
        let mut c = conversion("p", &format!("o{i}"), "100.00", &[("a", 1)]);
        c.occurred_at_ms += i;
        amounts.push(f.ingest(&c).await.commissions[0].amount.to_string());
    }
    // 5 % × 1.5 = 7.5 %; from the third conversion of the month, (5 + 1) % × 1.5 = 9 %.
    assert_eq!(amounts, ["7.50", "7.50", "9.00"]);
    f.finish().await;
}

async fn batch_ingests_in_one_transaction(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    for p in ["a", "b", "c"] {
        f.partner(p, "p", "starter", "USD").await;
    }
    let mut batch: Vec<ConversionInput> = (0..500)
        .map(|i| {
            conversion(
                "p",
                &format!("b{i}"),
                &format!("{}.{:02}", 10 + i, i % 100),
                &[("a", 3), ("b", 2), ("c", 1)],
            )
        })
        .collect();
    batch.push(conversion("p", "bad", "1.00", &[("ghost", 1)]));
    batch.push(batch[0].clone());
    let out = f.engine.ingest_batch(&batch).await.expect("batch");
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Ok(IngestOutcome::Created(_))))
            .count(),
        500
    );
    assert_eq!(
        out[500].as_ref().expect_err("bad item").kind(),
        "unknown-partner"
    );
    assert!(
        matches!(out[501], Ok(IngestOutcome::Replayed(_))),
        "a repeat inside the batch replays"
    );
    assert_eq!(
        f.engine
            .store()
            .count_conversions(Some("p"))
            .await
            .expect("count"),
        500
    );
    let again = f
        .engine
        .ingest_batch(&batch[..500])
        .await
        .expect("batch replay");
    assert!(
        again
            .iter()
            .all(|o| matches!(o, Ok(IngestOutcome::Replayed(_))))
    );
    f.finish().await;
}

async fn crash_mid_batch_leaves_nothing(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    let batch: Vec<ConversionInput> = (0..50)
        .map(|i| conversion("p", &format!("c{i}"), "10.00", &[("a", 1)]))
        .collect();
    f.engine.store().fail_next_batch_midway();
    assert!(
        f.engine.ingest_batch(&batch).await.is_err(),
        "the batch fails with its connection"
    );
    assert_eq!(
        f.engine
            .store()
            .count_conversions(Some("p"))
            .await
            .expect("count"),
        0,
        "nothing half-written"
    );
    assert!(
        f.engine
            .store()
            .entries(&EntryFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("entries")
            .is_empty()
    );
    let out = f.engine.ingest_batch(&batch).await.expect("retry");
    assert!(
        out.iter()
            .all(|o| matches!(o, Ok(IngestOutcome::Created(_))))
    );
    f.finish().await;
}

async fn quote_stores_nothing(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "enterprise", "USD").await;
    let q = f
        .engine
        .quote(&conversion("p", "q1", "80.00", &[("a", 1)]))
        .await
        .expect("quote");
    assert_eq!(q.commissions[0].amount, dec("20.00"));
    assert_eq!(
        f.engine
            .store()
            .count_conversions(None)
            .await
            .expect("count"),
        0
    );
    f.finish().await;
}

async fn approval_after_the_hold_period(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    f.ingest(&conversion("p", "o1", "100.00", &[("a", 1)]))
        .await;
    assert_eq!(
        f.engine.approve_due(T0 + 13 * DAY).await.expect("approve"),
        0,
        "still on hold"
    );
    assert_eq!(f.balance("a").await[0].pending, dec("5.00"));
    assert_eq!(
        f.engine.approve_due(T0 + 14 * DAY).await.expect("approve"),
        1
    );
    assert_eq!(
        f.engine.approve_due(T0 + 15 * DAY).await.expect("approve"),
        0,
        "approved once"
    );
    assert_eq!(f.balance("a").await[0].approved, dec("5.00"));
    f.finish().await;
}

/// Eight tasks post the same 1,000 conversions in different orders: exactly 1,000 are
/// stored with their entries, and every answer is a creation or a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_posts_of_the_same_conversions_on_postgres() {
    let f = Fixture::new(TestDb::postgres().await.expect("PostgreSQL")).await;
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    f.partner("b", "p", "professional", "USD").await;
    let all: Vec<ConversionInput> = (0..1000)
        .map(|i| conversion("p", &format!("k{i}"), "42.00", &[("a", 2), ("b", 1)]))
        .collect();
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let engine = f.engine.clone();
        let mut mine = all.clone();
        // A different deterministic order per task.
        let mut seed = t
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        for i in (1..mine.len()).rev() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            mine.swap(i, (seed >> 33) as usize % (i + 1));
        }
        tasks.push(tokio::spawn(async move {
            let mut created = 0;
            for chunk in mine.chunks(25) {
                for outcome in engine.ingest_batch(chunk).await.expect("batch") {
                    match outcome.expect("only creations and replays") {
                        IngestOutcome::Created(_) => created += 1,
                        IngestOutcome::Replayed(_) => {}
                    }
                }
            }
            created
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += t.await.expect("task");
    }
    assert_eq!(created, 1000, "each conversion created exactly once");
    assert_eq!(
        f.engine
            .store()
            .count_conversions(Some("p"))
            .await
            .expect("count"),
        1000
    );
    let entries = f
        .engine
        .store()
        .entries(&EntryFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .expect("entries");
    assert_eq!(entries.len(), 2000);
    f.finish().await;
}

/// PostgreSQL itself refuses a touchpoint, attribution or entry that names a partner of
/// another program, whatever the engine checked first (migration 0002's composite keys).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_a_partner_of_another_program() {
    let f = Fixture::new(TestDb::postgres().await.expect("PostgreSQL")).await;
    f.program("p", "linear", serde_json::json!({})).await;
    f.program("q", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    f.partner("b", "q", "starter", "USD").await;
    f.engine
        .ingest(&conversion("p", "c1", "10.00", &[("a", 1)]))
        .await
        .expect("ingest");
    for sql in [
        "INSERT INTO touchpoints (program_id, conversion_id, seq, partner_id, channel, occurred_at_ms)
            VALUES ('p', 'c1', 9, 'b', 'email', 0)",
        "INSERT INTO revenue_attributions (program_id, conversion_id, partner_id, weight,
            attributed_amount, currency, occurred_at_ms) VALUES ('p', 'c1', 'b', 0.5, 5, 'USD', 0)",
        "INSERT INTO ledger_entries (program_id, partner_id, conversion_id, kind, amount, currency,
            payout_amount, payout_currency, fx_rate, cause, hold_until_ms, created_at_ms)
            VALUES ('p', 'b', 'c1', 'adjustment', 1, 'USD', 1, 'USD', 1, 'test', 0, 0)",
    ] {
        let err = sqlx::query(sql)
            .execute(f.engine.store().pool())
            .await
            .expect_err(sql);
        assert!(
            err.as_database_error()
                .is_some_and(|e| e.is_foreign_key_violation()),
            "{sql}: {err}"
        );
    }
    f.finish().await;
}

/// Ten priced conversions for program `p` crediting partner `a`, ready for the store.
async fn priced_batch(f: &Fixture, prefix: &str) -> Vec<crate::store::NewConversion> {
    let state = f.engine.program("p").await.expect("program");
    let mut out = Vec::new();
    for i in 0..10 {
        let input = conversion("p", &format!("{prefix}{i}"), "10.00", &[("a", 1)]);
        let priced = f
            .engine
            .price(
                &state,
                &input,
                &Overrides::default(),
                &mut Lookups::default(),
            )
            .await
            .expect("price");
        out.push(priced.record);
    }
    out
}

/// A PostgreSQL ingest batch checks the programs and partners it names once per batch,
/// and still refuses, with the foreign keys' own error, every reference they would refuse:
/// a partner of another program or an unknown one, in a touchpoint, an attribution or an
/// entry, and an unknown program. Nothing of a refused batch is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batches_check_their_references_once() {
    // One connection, so the statement after the batch runs on the batch's connection.
    let db = TestDb::postgres().await.expect("PostgreSQL");
    let store = Store::connect(&db.url, 1).await.expect("connect");
    store.migrate().await.expect("migrate");
    let f = Fixture::with_store(db, store).await;
    f.program("p", "linear", serde_json::json!({})).await;
    f.program("q", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    f.partner("b", "q", "starter", "USD").await;
    let store = f.engine.store().clone();
    let before = store.check_counts();
    let batch: Vec<ConversionInput> = (0..Store::STATEMENT_CHECK_MIN_BATCH)
        .map(|i| conversion("p", &format!("ok{i}"), "10.00", &[("a", 1)]))
        .collect();
    f.engine.ingest_batch(&batch).await.expect("batch");
    let after = store.check_counts();
    assert_eq!(after.statement, before.statement + 1, "checked once");
    assert_eq!(after.row, before.row);
    // The setting ended with the batch's transaction: the same connection checks rows.
    let err = sqlx::query(
        "INSERT INTO touchpoints (program_id, conversion_id, seq, partner_id, channel, occurred_at_ms)
            VALUES ('p', 'ok0', 9, 'b', 'email', 0)",
    )
    .execute(store.pool())
    .await
    .expect_err("an orphan touchpoint");
    assert!(
        err.as_database_error()
            .is_some_and(|e| e.is_foreign_key_violation()),
        "{err}"
    );
    let small = &batch[..Store::STATEMENT_CHECK_MIN_BATCH - 1];
    let small: Vec<ConversionInput> = small
        .iter()
        .map(|c| ConversionInput {
            id: format!("small-{}", c.id),
            ..c.clone()
        })
        .collect();
    f.engine.ingest_batch(&small).await.expect("small batch");
    assert_eq!(
        store.check_counts().row,
        after.row + 1,
        "a small batch keeps the row checks"
    );

    type Spoil = fn(&mut crate::store::NewConversion, &str);
    let spoilers: [(&str, Spoil); 4] = [
        ("touchpoint", |c, p| {
            c.conversion.touchpoints[0].partner_id = p.into();
        }),
        ("attribution", |c, p| {
            c.attributions[0].partner_id = p.into()
        }),
        ("entry", |c, p| c.entries[0].partner_id = p.into()),
        ("program", |c, _| {
            c.conversion.program_id = "nope".into();
            for e in &mut c.entries {
                e.program_id = "nope".into();
            }
        }),
    ];
    for (what, spoil) in spoilers {
        for partner in ["b", "nobody"] {
            let mut records = priced_batch(&f, &format!("{what}-{partner}-")).await;
            spoil(&mut records[3], partner);
            let err = store
                .write_conversions(&records)
                .await
                .expect_err("a missing reference is refused");
            assert!(
                matches!(err, crate::store::StoreError::MissingReference(_)),
                "{what} naming {partner}: {err}"
            );
        }
    }
    assert_eq!(
        store.count_conversions(None).await.expect("count"),
        (2 * Store::STATEMENT_CHECK_MIN_BATCH - 1) as i64,
        "nothing of a refused batch is written"
    );
    f.finish().await;
}

/// Whatever text a batch carries comes back as it went in: quotes, braces, backslashes,
/// commas, the word NULL, empty strings and non-ASCII, in ids and free-form fields (the
/// PostgreSQL batch statement binds whole columns as arrays).
async fn batches_store_any_text_exactly(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    let odd = [
        r#"a "quoted", {braced} \ back\"#,
        "NULL",
        "",
        "  spaces  ",
        "ünï\u{e7}ødé ✓\n\t",
    ];
    let batch: Vec<ConversionInput> = odd
        .iter()
        .enumerate()
        .flat_map(|(i, text)| {
            // Twice each, so the batch is large enough for the once-per-batch checks.
            (0..2).map(move |k| {
                let mut c = conversion("p", &format!("{text}#{i}{k}"), "10.00", &[("a", 1)]);
                c.customer_id = Some((*text).to_owned());
                c.region = Some((*text).to_owned());
                c.attributes = vec![((*text).to_owned(), (*text).to_owned())];
                c.touchpoints[0].channel = (*text).to_owned();
                c.touchpoints[0].campaign = Some((*text).to_owned());
                c
            })
        })
        .collect();
    assert!(batch.len() >= Store::STATEMENT_CHECK_MIN_BATCH);
    let out = f.engine.ingest_batch(&batch).await.expect("batch");
    assert!(
        out.iter()
            .all(|o| matches!(o, Ok(IngestOutcome::Created(_))))
    );
    for input in &batch {
        let stored = f
            .engine
            .store()
            .conversion("p", &input.id)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(&stored.conversion, input, "{:?}", input.id);
    }
    f.finish().await;
}

/// A role that may not set `session_replication_role` keeps the row checks, and its
/// batches are stored all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batches_fall_back_to_row_checks_without_the_privilege() {
    use sqlx::Connection;
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| crate::testing::DEFAULT_TEST_DATABASE_URL.to_owned());
    let db = TestDb::postgres().await.expect("PostgreSQL");
    let role = format!(
        "accrue_test_role_{}",
        crate::ids::random_token(8).to_lowercase()
    );
    Store::connect(&db.url, 2)
        .await
        .expect("connect")
        .migrate()
        .await
        .expect("migrate");
    let mut admin = sqlx::AnyConnection::connect(&db.url).await.expect("admin");
    for sql in [
        format!("CREATE ROLE {role} LOGIN NOSUPERUSER"),
        format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"),
    ] {
        sqlx::query(&sql).execute(&mut admin).await.expect(&sql);
    }
    admin.close().await.expect("close");
    // The same server and database, as the new role (trust authentication, as on the
    // local server the tests use).
    let (scheme, rest) = db.url.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    let store = Store::connect(&format!("{scheme}://{role}@{host}"), 4)
        .await
        .expect("connect as the role");
    // Such a role cannot create tables, but starting with nothing to migrate works.
    store
        .migrate()
        .await
        .expect("migrate with nothing to apply");
    let f = Fixture::with_store(db, store).await;
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    let batch: Vec<ConversionInput> = (0..20)
        .map(|i| conversion("p", &format!("c{i}"), "10.00", &[("a", 1)]))
        .collect();
    let out = f.engine.ingest_batch(&batch).await.expect("batch");
    assert!(
        out.iter()
            .all(|o| matches!(o, Ok(IngestOutcome::Created(_))))
    );
    let counts = f.engine.store().check_counts();
    assert_eq!((counts.statement, counts.row), (0, 1), "row checks");
    f.finish().await;
    // The grants went with the database; the role can go now.
    let mut admin = sqlx::AnyConnection::connect(&server).await.expect("server");
    let sql = format!("DROP ROLE {role}");
    sqlx::query(&sql).execute(&mut admin).await.expect(&sql);
}

async fn period_close_pays_tier_bonuses_once(f: Fixture) {
    f.program("p", "first-touch", serde_json::json!({})).await;
    let bonus = f
        .engine
        .resolve_plugin(
            &PluginRef {
                plugin: "tier-bonus".into(),
                config: serde_json::json!({"threshold": "100"}),
            },
            World::Bonus,
            "p",
            "bonus",
        )
        .await
        .expect("bonus plug-in");
    let mut program = f
        .engine
        .program("p")
        .await
        .expect("program")
        .program
        .clone();
    program.bonus = Some(bonus);
    f.engine.update_program(&program).await.expect("bind bonus");
    f.partner("a", "p", "professional", "USD").await;
    f.partner("b", "p", "starter", "USD").await;
    f.ingest(&conversion("p", "o1", "100.00", &[("a", 1)]))
        .await;
    f.ingest(&conversion("p", "o2", "50.00", &[("a", 1)])).await;
    f.ingest(&conversion("p", "o3", "20.00", &[("b", 1)])).await;
    f.engine
        .refund("p", "o2", "r1", Some(dec("25.00")))
        .await
        .expect("refund");
    let (from, to) = (T0 - 9 * DAY, T0 + 21 * DAY);
    let first = f
        .engine
        .close_period("p", from, to, None)
        .await
        .expect("close");
    let got: Vec<(String, String, bool)> = first
        .iter()
        .map(|b| (b.partner_id.clone(), b.amount.to_string(), b.new))
        .collect();
    // a: revenue 100 + 50 − 25 refunded = 125 ≥ 100 → professional 5 % = 6.25. b: 20 < 100.
    assert_eq!(
        got,
        vec![
            ("a".into(), "6.25".into(), true),
            ("b".into(), "0.00".into(), true)
        ]
    );
    assert!(first[0].entry_id.is_some() && first[1].entry_id.is_none());
    let again = f
        .engine
        .close_period("p", from, to, None)
        .await
        .expect("close again");
    assert!(
        again.iter().all(|b| !b.new),
        "closing twice pays nothing twice"
    );
    assert_eq!(again[0].amount, dec("6.25"));
    let bonuses = f
        .engine
        .store()
        .entries(&EntryFilter {
            partner_id: Some("a".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("entries");
    assert_eq!(
        bonuses
            .iter()
            .filter(|e| e.kind == crate::domain::ledger::EntryKind::Bonus)
            .count(),
        1
    );
    let e = f
        .engine
        .close_period("nope", from, to, None)
        .await
        .expect_err("unknown program");
    assert_eq!(e.kind(), "unknown-program");
    f.finish().await;
}

async fn replay_reproduces_commissions_exactly(f: Fixture) {
    let volume = vec![VolumeTier {
        metric: VolumeMetric::Conversions,
        threshold: dec("1"),
        add_rate: dec("0.01"),
    }];
    let geo = serde_json::json!({"multipliers": {"US-CA": "1.25"}});
    f.program_with(
        "p",
        "time-decay",
        serde_json::json!({"half_life_days": 3}),
        Some(geo),
        default_tiers(),
        volume,
    )
    .await;
    f.partner("a", "p", "starter", "USD").await;
    f.partner("b", "p", "enterprise", "USD").await;
    let mut first = conversion("p", "o1", "77.77", &[("a", 6), ("b", 2), ("a", 1)]);
    first.attributes = vec![
        ("coupon".into(), "SPRING".into()),
        ("channel".into(), "app".into()),
    ];
    f.ingest(&first).await;
    let stored = f
        .engine
        .store()
        .conversion("p", "o1")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        stored.conversion.attributes, first.attributes,
        "attributes are kept, in order"
    );
    let mut second = conversion("p", "o2", "12.34", &[("b", 2)]);
    second.occurred_at_ms += 1;
    f.ingest(&second).await;
    // Change what a fresh pricing would use: the program's plug-in, the rates, a tier.
    let mut program = f
        .engine
        .program("p")
        .await
        .expect("program")
        .program
        .clone();
    program.attribution = f
        .engine
        .resolve_plugin(
            &PluginRef {
                plugin: "last-touch".into(),
                config: serde_json::json!({}),
            },
            World::Attribution,
            "p",
            "a",
        )
        .await
        .expect("binding");
    f.engine.update_program(&program).await.expect("rebind");
    f.engine
        .add_rate_table(
            "p",
            RateTable {
                version: 0,
                effective_from_ms: 0,
                tiers: default_tiers(),
                volume_tiers: Vec::new(),
            },
            Some(T0 - DAY),
        )
        .await
        .expect("rates");
    let partner = f.engine.partner("a").await.expect("a");
    f.engine
        .update_partner(&partner, Some((T0 - 30 * DAY, "white-label")))
        .await
        .expect("tier");
    for id in ["o1", "o2"] {
        let r = f.engine.replay("p", id).await.expect("replay");
        assert!(r.matches, "{id}: {r:?}");
        assert!(!r.lines.is_empty());
    }
    let e = f.engine.replay("p", "ghost").await.expect_err("unknown");
    assert_eq!(e.kind(), "not-found");
    f.finish().await;
}

/// The problem an API client would get for `e`.
fn problem(e: EngineError) -> crate::http::ApiError {
    crate::http::ApiError::from(e)
}

async fn large_amounts_split_exactly_and_larger_ones_are_refused(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    for p in ["a", "b", "c"] {
        f.partner(p, "p", "starter", "USD").await;
    }
    // Three identical touchpoints on the largest amount accepted: three equal parts.
    let big = conversion(
        "p",
        "big",
        "999999999999.99",
        &[("a", 1), ("b", 1), ("c", 1)],
    );
    let r = f.ingest(&big).await;
    assert_eq!(r.commissions.len(), 3);
    for c in &r.commissions {
        assert_eq!(
            c.share.to_string(),
            "0.333333333333333333",
            "{}",
            c.partner_id
        );
        assert_eq!(c.attributed_amount.to_string(), "333333333333.33");
        // 5 % of 333,333,333,333.33 = 16,666,666,666.6665 → half-even.
        assert_eq!(c.amount.to_string(), "16666666666.67");
    }
    // An exact tie: 100.00 in thirds; the extra cent goes by sha256(conversion, partner),
    // whatever the order of the touchpoints.
    let winner = ["a", "b", "c"]
        .into_iter()
        .min_by_key(|p| crate::domain::tie_key("tie", p))
        .expect("three");
    let tie = f
        .ingest(&conversion(
            "p",
            "tie",
            "100.00",
            &[("a", 1), ("b", 1), ("c", 1)],
        ))
        .await;
    let reordered = f
        .engine
        .quote(&conversion(
            "p",
            "tie",
            "100.00",
            &[("c", 1), ("a", 1), ("b", 1)],
        ))
        .await
        .expect("quote");
    for result in [&tie, &reordered] {
        for c in &result.commissions {
            let expected = if c.partner_id == winner {
                "33.34"
            } else {
                "33.33"
            };
            assert_eq!(
                c.attributed_amount.to_string(),
                expected,
                "{}",
                c.partner_id
            );
        }
    }
    // Larger amounts are refused before any plug-in runs, with the field at fault.
    for amount in ["10000000000000.00", "12345678901234567890.00"] {
        let input = conversion("p", "huge", amount, &[("a", 1)]);
        let e = f.engine.ingest(&input).await.expect_err(amount);
        assert_eq!(e.kind(), "amount-too-large", "{amount}: {e}");
        let api = problem(e);
        assert_eq!(api.status.as_u16(), 422);
        assert_eq!(api.field.as_deref(), Some("amount"));
        let e = f.engine.quote(&input).await.expect_err(amount);
        assert_eq!(e.kind(), "amount-too-large", "{amount}: {e}");
    }
    let replay = f.engine.replay("p", "big").await.expect("replay");
    assert!(replay.matches, "{replay:?}");
    f.finish().await;
}

async fn amounts_read_back_with_their_currency_scale(f: Fixture) {
    let (from, to) = (T0 - 9 * DAY, T0 + 21 * DAY);
    for (code, tiny, zero) in [
        ("USD", "0.01", "0.00"),
        ("JPY", "1", "0"),
        ("KWD", "0.001", "0.000"),
    ] {
        let program = code.to_lowercase();
        // A threshold no partner reaches: every bonus is zero.
        f.program_in(
            &program,
            "first-touch",
            code,
            serde_json::json!({"threshold": "1000000"}),
            Decimal::ONE,
        )
        .await;
        let partner = format!("{program}-a");
        f.partner(&partner, &program, "starter", code).await;
        let post = |id: &str, amount: &str| {
            let mut c = conversion(&program, id, amount, &[(partner.as_str(), 1)]);
            c.currency = code.into();
            c
        };
        let strings =
            |values: &[Decimal]| values.iter().map(ToString::to_string).collect::<Vec<_>>();
        // Zero posted with the currency's decimals: PostgreSQL's binary ingest used to
        // store it as 0, which read back as "0" and replayed with another input hash.
        for (id, amount) in [("zero", zero), ("tiny", tiny)] {
            let input = post(id, amount);
            let r = f.ingest(&input).await;
            let c = &r.commissions[0];
            assert_eq!(
                strings(&[c.amount, c.payout_amount]),
                vec![zero, zero],
                "{code} {id}: commission"
            );
            let IngestOutcome::Replayed(again) = f.engine.ingest(&input).await.expect("replay")
            else {
                panic!("{code} {id}: expected a replay");
            };
            assert_eq!(again, r, "{code} {id}: the stored answer");
            let stored = f
                .engine
                .store()
                .conversion(&program, id)
                .await
                .expect("read")
                .expect("stored");
            let expected_amount = if id == "zero" { zero } else { tiny };
            // The conversion as posted (not rescaled: see `Store::conversion`).
            assert_eq!(stored.conversion.amount.to_string(), amount, "{code} {id}");
            assert_eq!(
                r.amount.to_string(),
                expected_amount,
                "{code} {id}: answered"
            );
            assert_eq!(stored.refunded.to_string(), zero, "{code} {id}: refunded");
            let attributions = f
                .engine
                .store()
                .attributions(&program, id)
                .await
                .expect("attributions");
            assert_eq!(
                attributions[0].attributed_amount.to_string(),
                expected_amount,
                "{code} {id}: attribution"
            );
            let replay = f.engine.replay(&program, id).await.expect("replay");
            assert!(replay.matches, "{code} {id}: {replay:?}");
            let l = &replay.lines[0];
            assert_eq!(
                strings(&[l.stored, l.replayed, l.stored_payout, l.replayed_payout]),
                vec![zero; 4],
                "{code} {id}: replay"
            );
        }
        let entries = f
            .engine
            .store()
            .entries(&EntryFilter {
                program_id: Some(program.clone()),
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("entries");
        assert_eq!(entries.len(), 2);
        for e in &entries {
            assert_eq!(
                strings(&[e.amount, e.payout_amount]),
                vec![zero, zero],
                "{code}: entry {}",
                e.id
            );
        }
        let refund = f
            .engine
            .refund(&program, "tiny", "r1", None)
            .await
            .expect("refund");
        assert_eq!(
            strings(&[refund.amount, refund.refunded_total]),
            vec![tiny, tiny],
            "{code}: refund"
        );
        let stored = f
            .engine
            .store()
            .conversion(&program, "tiny")
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(stored.refunded.to_string(), tiny, "{code}: refunded");
        let b = &f.balance(&partner).await[0];
        assert_eq!(
            strings(&[b.pending, b.approved, b.paid, b.frozen, b.total]),
            vec![zero; 5],
            "{code}: balance"
        );
        for round in ["first", "again"] {
            let bonuses = f
                .engine
                .close_period(&program, from, to, None)
                .await
                .expect("close");
            assert_eq!(bonuses.len(), 1);
            assert_eq!(
                bonuses[0].amount.to_string(),
                zero,
                "{code}: bonus, {round}"
            );
            assert_eq!(bonuses[0].new, round == "first");
        }
    }
    f.finish().await;
}

async fn current_currencies_are_accepted_and_withdrawn_ones_kept_for_stored_data(f: Fixture) {
    f.program("p", "first-touch", serde_json::json!({})).await;
    // Codes the hand-written table refused, end to end: partner paid in it, sale in it.
    for code in [
        "QAR", "KZT", "UAH", "MAD", "KES", "BDT", "LKR", "XOF", "XAF", "UYU", "IQD",
    ] {
        let partner = format!("p-{code}");
        f.partner(&partner, "p", "starter", code).await;
        let mut c = conversion("p", &format!("c-{code}"), "100", &[(partner.as_str(), 1)]);
        c.currency = code.into();
        let r = f.ingest(&c).await;
        let units = Currency::parse(code).expect(code).minor_units();
        let line = &r.commissions[0];
        assert_eq!(line.amount, dec("5"), "{code}");
        assert_eq!(line.amount.scale(), units, "{code}");
        assert_eq!(line.payout_currency, code);
    }
    // Withdrawn: refused for anything new, with the field at fault.
    let mut bgn = conversion("p", "new-bgn", "10.00", &[("p-QAR", 1)]);
    bgn.currency = "BGN".into();
    let e = f.engine.ingest(&bgn).await.expect_err("BGN conversion");
    assert_eq!(e.kind(), "withdrawn-currency");
    let api = problem(e);
    assert_eq!(
        (api.status.as_u16(), api.field.as_deref()),
        (422, Some("currency"))
    );
    let e = f.engine.quote(&bgn).await.expect_err("BGN quote");
    assert_eq!(e.kind(), "withdrawn-currency");
    let new_partner = PartnerRecord {
        id: "bg-new".into(),
        program_id: "p".into(),
        name: None,
        country: Some("BG".into()),
        payout_currency: Currency::parse("BGN").expect("BGN"),
        tiers: vec![(0, "starter".into())],
        created_at_ms: T0,
    };
    let e = f
        .engine
        .create_partner(&new_partner)
        .await
        .expect_err("BGN payout");
    assert_eq!(problem(e).field.as_deref(), Some("payout_currency"));
    let mut moved = f.engine.partner("p-QAR").await.expect("partner");
    moved.payout_currency = Currency::parse("HRK").expect("HRK");
    let e = f
        .engine
        .update_partner(&moved, None)
        .await
        .expect_err("HRK payout");
    assert_eq!(e.kind(), "withdrawn-currency");
    let mut program = f.engine.program("p").await.expect("p").program.clone();
    program.id = "p-bgn".into();
    program.currency = Currency::parse("BGN").expect("known");
    let e = f
        .engine
        .create_program(
            &program,
            f.engine.program("p").await.expect("p").rate_tables[0].clone(),
        )
        .await
        .expect_err("BGN program");
    assert_eq!(e.kind(), "withdrawn-currency");
    // Stored before the withdrawal (written through the store, as an older version did):
    // a partner paid in BGN and a BGN conversion still read, refund and replay.
    f.engine
        .store()
        .insert_partner(&PartnerRecord {
            id: "bg".into(),
            ..new_partner
        })
        .await
        .expect("stored partner");
    let mut renamed = f.engine.partner("bg").await.expect("bg");
    renamed.name = Some("Sofia".into());
    f.engine
        .update_partner(&renamed, None)
        .await
        .expect("a kept payout currency is no change");
    let mut old = conversion("p", "old-bgn", "100.00", &[("bg", 1)]);
    old.currency = "BGN".into();
    let state = f.engine.program("p").await.expect("p");
    let priced = f
        .engine
        .price(&state, &old, &Overrides::default(), &mut Lookups::default())
        .await
        .expect("stored data prices");
    f.engine
        .store()
        .write_conversions(&[priced.record])
        .await
        .expect("stored");
    let stored = f
        .engine
        .store()
        .conversion("p", "old-bgn")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.conversion.currency, "BGN");
    assert_eq!(stored.conversion.amount.to_string(), "100.00");
    match f.engine.ingest(&old).await.expect("re-post") {
        IngestOutcome::Replayed(r) => assert_eq!(r.commissions[0].amount.to_string(), "5.00"),
        other => panic!("expected the stored answer, got {other:?}"),
    }
    let replay = f.engine.replay("p", "old-bgn").await.expect("replay");
    assert!(replay.matches, "{replay:?}");
    let refund = f
        .engine
        .refund("p", "old-bgn", "r1", Some(dec("40.00")))
        .await
        .expect("refund");
    assert_eq!(refund.currency, "BGN");
    assert_eq!(refund.reversals[0].amount.to_string(), "-2.00");
    let b = &f.balance("bg").await[0];
    assert_eq!(
        (b.currency.as_str(), b.total.to_string().as_str()),
        ("BGN", "3.00")
    );
    f.finish().await;
}

async fn bonuses_above_the_program_cap_are_refused_per_partner(f: Fixture) {
    // Professional partners get 80 % of revenue as a bonus: above a 50 % cap.
    f.program_in(
        "p",
        "first-touch",
        "USD",
        serde_json::json!({"rates": {"professional": "0.8"}}),
        dec("0.5"),
    )
    .await;
    f.partner("a", "p", "professional", "USD").await;
    f.partner("b", "p", "starter", "USD").await;
    f.ingest(&conversion("p", "o1", "100.00", &[("a", 1)]))
        .await;
    f.ingest(&conversion("p", "o2", "20.00", &[("b", 1)])).await;
    let (from, to) = (T0 - 9 * DAY, T0 + 21 * DAY);
    let digest = f
        .engine
        .program("p")
        .await
        .expect("p")
        .program
        .bonus
        .clone()
        .expect("bound")
        .digest;
    let first = f
        .engine
        .close_period("p", from, to, None)
        .await
        .expect("close");
    assert_eq!(
        first.len(),
        2,
        "one partner's refusal does not stop the other"
    );
    let a = &first[0];
    assert_eq!(
        (a.partner_id.as_str(), a.status),
        ("a", BonusStatus::Failed)
    );
    assert_eq!(
        (a.amount.to_string(), a.entry_id, a.new),
        ("0.00".into(), None, false)
    );
    let error = a.error.as_ref().expect("why");
    assert_eq!(error.kind, "plugin-failed");
    for needle in [
        digest.as_str(),
        "tier-bonus@",
        "\"a\"",
        "80.00 USD",
        "50.00 USD",
    ] {
        assert!(
            error.detail.contains(needle),
            "{needle:?} in {}",
            error.detail
        );
    }
    let b = &first[1];
    assert_eq!(
        (b.partner_id.as_str(), b.status),
        ("b", BonusStatus::Closed)
    );
    assert_eq!((b.amount.to_string(), b.new), ("0.40".into(), true));
    assert!(b.error.is_none());
    // Nothing was recorded for a: closing again refuses it again, b is the earlier result.
    let again = f
        .engine
        .close_period("p", from, to, None)
        .await
        .expect("close");
    assert_eq!(again[0].status, BonusStatus::Failed);
    assert!(!again[1].new && again[1].status == BonusStatus::Closed);
    let bonus_entries = |partner: &str| {
        let partner = partner.to_owned();
        let store = f.engine.store().clone();
        async move {
            store
                .entries(&EntryFilter {
                    partner_id: Some(partner),
                    limit: 100,
                    ..Default::default()
                })
                .await
                .expect("entries")
                .into_iter()
                .filter(|e| e.kind == crate::domain::ledger::EntryKind::Bonus)
                .count()
        }
    };
    assert_eq!(bonus_entries("a").await, 0, "never clamped, never paid");
    // A cap outside 0..=1 is refused; raising it to 100 % lets the bonus through.
    let mut program = f.engine.program("p").await.expect("p").program.clone();
    program.max_bonus_share = dec("1.5");
    let e = f
        .engine
        .update_program(&program)
        .await
        .expect_err("cap above 1");
    assert_eq!(e.kind(), "bad-rate");
    assert_eq!(problem(e).field.as_deref(), Some("max_bonus_share"));
    program.max_bonus_share = Decimal::ONE;
    f.engine.update_program(&program).await.expect("cap 100 %");
    let last = f
        .engine
        .close_period("p", from, to, None)
        .await
        .expect("close");
    assert_eq!(last[0].status, BonusStatus::Closed);
    assert_eq!(
        (last[0].amount.to_string(), last[0].new),
        ("80.00".into(), true)
    );
    assert_eq!(bonus_entries("a").await, 1);
    f.finish().await;
}

/// Every entry of the program, with its status: what a command must not change twice.
async fn ledger_of(f: &Fixture) -> Vec<(i64, String, String, Status)> {
    f.engine
        .store()
        .entries(&EntryFilter {
            program_id: Some("p".into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .expect("entries")
        .into_iter()
        .map(|e| (e.id, e.partner_id, e.amount.to_string(), e.status))
        .collect()
}

async fn partners_dispute_only_their_own_entries(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a1", "p", "starter", "USD").await;
    f.partner("a2", "p", "starter", "USD").await;
    f.ingest(&conversion("p", "o1", "100.00", &[("a1", 2), ("a2", 1)]))
        .await;
    f.ingest(&conversion("p", "o2", "100.00", &[("a2", 1)]))
        .await;
    let entry_of = |ledger: &[(i64, String, String, Status)], partner: &str| {
        ledger
            .iter()
            .find(|e| e.1 == partner)
            .map(|e| e.0)
            .expect("entry")
    };
    let before = ledger_of(&f).await;
    let a2_entry = entry_of(&before, "a2");
    let as_partner = |partner: &str, conversion: &str, entry_id: Option<i64>| OpenDispute {
        program_id: "p".into(),
        conversion_id: conversion.into(),
        entry_id,
        opened_by: format!("key_{partner}"),
        scope: Scope::Partner(partner.into()),
        reason: "not mine?".into(),
        idempotency_key: None,
    };
    // Another partner's entry is answered like one that does not exist; a conversion
    // where the partner has no entries like a conversion that does not exist.
    let e = f
        .engine
        .open_dispute(&as_partner("a1", "o1", Some(a2_entry)))
        .await
        .expect_err("a2's entry");
    assert_eq!(e.kind(), "not-found");
    assert_eq!(
        e.to_string(),
        format!("entry {a2_entry} of conversion \"o1\" not found")
    );
    let e = f
        .engine
        .open_dispute(&as_partner("a1", "o2", None))
        .await
        .expect_err("a conversion of a2's only");
    assert_eq!(e.to_string(), "conversion \"o2\" not found");
    assert_eq!(ledger_of(&f).await, before, "nothing frozen");
    // Without an entry, a partner's dispute freezes its own entries only.
    let d = f
        .engine
        .open_dispute(&as_partner("a1", "o1", None))
        .await
        .expect("own entries");
    assert_eq!(d.partner_id.as_deref(), Some("a1"));
    assert_eq!(f.balance("a1").await[0].frozen, dec("2.50"));
    assert_eq!(f.balance("a2").await[0].frozen, Decimal::ZERO);
    // Reading is scoped the same way; an admin's dispute of the whole conversion concerns
    // both partners.
    let admin = OpenDispute {
        scope: Scope::Admin,
        ..as_partner("admin", "o2", None)
    };
    let whole = f.engine.open_dispute(&admin).await.expect("admin");
    assert_eq!(whole.partner_id, None);
    let ids = |list: Vec<crate::store::DisputeRecord>| {
        let mut ids: Vec<String> = list.into_iter().map(|d| d.id).collect();
        ids.sort();
        ids
    };
    let (a1, a2) = (Scope::Partner("a1".into()), Scope::Partner("a2".into()));
    let seen = f.engine.disputes(&a1, None).await.expect("a1");
    assert_eq!(ids(seen), vec![d.id.clone()]);
    let seen = f.engine.disputes(&a2, None).await.expect("a2");
    assert_eq!(ids(seen), vec![whole.id.clone()]);
    assert_eq!(
        f.engine
            .disputes(&Scope::Admin, Some("p"))
            .await
            .expect("admin")
            .len(),
        2
    );
    let e = f
        .engine
        .disputes(&Scope::PluginAuthor("p".into()), None)
        .await
        .expect_err("author");
    assert_eq!(e.kind(), "forbidden");
    // Resolving a1's dispute touches a1's entries only: a2's frozen o2 entry stays frozen.
    f.engine
        .resolve_dispute(&d.id, DisputeOutcome::Upheld, "key_admin", "agreed", None)
        .await
        .expect("uphold");
    let a1 = &f.balance("a1").await[0];
    assert_eq!((a1.frozen, a1.total), (Decimal::ZERO, dec("0.00")));
    let a2 = &f.balance("a2").await[0];
    assert_eq!(a2.frozen, dec("5.00"), "a2's o2 entry is still disputed");
    assert_eq!(a2.total, dec("7.50"), "a2's o1 entry untouched");
    let e = f
        .engine
        .open_dispute(&OpenDispute {
            scope: Scope::PluginAuthor("p".into()),
            ..as_partner("x", "o1", None)
        })
        .await
        .expect_err("author");
    assert_eq!(e.kind(), "forbidden");
    f.finish().await;
}

async fn money_commands_answer_a_retry_with_the_first_answer(f: Fixture) {
    f.program_in(
        "p",
        "linear",
        "USD",
        serde_json::json!({"threshold": "10"}),
        Decimal::ONE,
    )
    .await;
    f.partner("a", "p", "starter", "USD").await;
    f.partner("b", "p", "starter", "USD").await;
    f.ingest(&conversion("p", "o1", "100.00", &[("a", 2), ("b", 1)]))
        .await;
    f.ingest(&conversion("p", "o2", "100.00", &[("a", 1)]))
        .await;

    // Refunds: the refund id is the key.
    let first = f
        .engine
        .refund("p", "o1", "k1", Some(dec("10.00")))
        .await
        .expect("refund");
    let ledger = ledger_of(&f).await;
    let again = f
        .engine
        .refund("p", "o1", "k1", Some(dec("10")))
        .await
        .expect("retried refund");
    assert_eq!(again, first, "the first answer");
    assert_eq!(ledger_of(&f).await, ledger, "nothing applied twice");
    let e = f
        .engine
        .refund("p", "o1", "k1", Some(dec("20.00")))
        .await
        .expect_err("other amount");
    assert_eq!(e.kind(), "idempotency-conflict");
    // A refund that took everything is still answered on a retry, not refused as too large.
    let all = f.engine.refund("p", "o2", "k1", None).await.expect("all");
    assert_eq!(
        f.engine.refund("p", "o2", "k1", None).await.expect("retry"),
        all
    );
    assert_eq!(ledger_of(&f).await.len(), ledger.len() + 1);

    // Opening a dispute; a partner's keys are its own.
    let open = |scope: Scope, entry_id: Option<i64>, reason: &str| OpenDispute {
        program_id: "p".into(),
        conversion_id: "o1".into(),
        entry_id,
        opened_by: "key_x".into(),
        scope,
        reason: reason.into(),
        idempotency_key: Some("k1".into()),
    };
    let mine = f
        .engine
        .open_dispute(&open(Scope::Partner("a".into()), None, "why"))
        .await
        .expect("a opens");
    let ledger = ledger_of(&f).await;
    let retried = f
        .engine
        .open_dispute(&open(Scope::Partner("a".into()), None, "why"))
        .await
        .expect("a retries");
    assert_eq!(retried, mine);
    assert_eq!(ledger_of(&f).await, ledger);
    let e = f
        .engine
        .open_dispute(&open(Scope::Partner("a".into()), None, "other"))
        .await
        .expect_err("other payload");
    assert_eq!(e.kind(), "idempotency-conflict");
    let theirs = f
        .engine
        .open_dispute(&open(Scope::Partner("b".into()), None, "why"))
        .await
        .expect("b's own key k1");
    assert_ne!(theirs.id, mine.id, "b never gets a's answer");
    assert_eq!(
        f.engine
            .disputes(&Scope::Admin, Some("p"))
            .await
            .expect("list")
            .len(),
        2
    );

    // Resolving.
    let resolved = f
        .engine
        .resolve_dispute(
            &mine.id,
            DisputeOutcome::Upheld,
            "key_admin",
            "ok",
            Some("r1"),
        )
        .await
        .expect("resolve");
    let ledger = ledger_of(&f).await;
    let retried = f
        .engine
        .resolve_dispute(
            &mine.id,
            DisputeOutcome::Upheld,
            "key_admin",
            "ok",
            Some("r1"),
        )
        .await
        .expect("retried resolution");
    assert_eq!(retried, resolved);
    assert_eq!(ledger_of(&f).await, ledger);
    let e = f
        .engine
        .resolve_dispute(
            &mine.id,
            DisputeOutcome::Rejected,
            "key_admin",
            "ok",
            Some("r1"),
        )
        .await
        .expect_err("other outcome");
    assert_eq!(e.kind(), "idempotency-conflict");
    let e = f
        .engine
        .resolve_dispute(&mine.id, DisputeOutcome::Upheld, "key_admin", "ok", None)
        .await
        .expect_err("without a key, a second resolution");
    assert_eq!(e.kind(), "conflict");

    // Adjusting.
    let req = starter_at_8_percent("fix", Some("k1"));
    let report = f.engine.adjust(&req).await.expect("adjust");
    assert!(!report.changes.is_empty());
    let ledger = ledger_of(&f).await;
    assert_eq!(f.engine.adjust(&req).await.expect("retry"), report);
    assert_eq!(ledger_of(&f).await, ledger);
    let e = f
        .engine
        .adjust(&AdjustmentRequest {
            reason: "another".into(),
            ..req.clone()
        })
        .await
        .expect_err("other payload");
    assert_eq!(e.kind(), "idempotency-conflict");

    // Closing a period: the retry gets the first outcomes (`new: true`), not a re-run's.
    let (from, to) = (T0 - 9 * DAY, T0 + 21 * DAY);
    let closed = f
        .engine
        .close_period("p", from, to, Some("k1"))
        .await
        .expect("close");
    assert!(
        closed.iter().any(|b| b.new && b.entry_id.is_some()),
        "{closed:?}"
    );
    let ledger = ledger_of(&f).await;
    assert_eq!(
        f.engine
            .close_period("p", from, to, Some("k1"))
            .await
            .expect("retry"),
        closed
    );
    assert_eq!(ledger_of(&f).await, ledger);
    let e = f
        .engine
        .close_period("p", from, to + DAY, Some("k1"))
        .await
        .expect_err("other period");
    assert_eq!(e.kind(), "idempotency-conflict");
    f.finish().await;
}

async fn plugin_registrations_are_per_program(f: Fixture) {
    f.program("p1", "linear", serde_json::json!({})).await;
    f.program("p2", "linear", serde_json::json!({})).await;
    let bytes = std::fs::read(crate::plugins::built::LAST_NON_DIRECT_PATH).expect("component");
    let upload = |program: &str, name: &str| {
        f.engine.register_plugin(
            Some(program.into()),
            name.into(),
            "1.0.0".into(),
            bytes.clone(),
        )
    };
    let a = upload("p1", "alpha").await.expect("p1 uploads");
    let b = upload("p2", "beta")
        .await
        .expect("p2 uploads the same bytes");
    assert!(a.fresh && b.fresh, "each program gets its own record");
    assert_eq!(a.record.digest, b.record.digest);
    assert_eq!(
        (b.record.name.as_str(), b.record.owner_program_id.as_deref()),
        ("beta", Some("p2")),
        "p2 gets its own record, not p1's"
    );
    let again = upload("p1", "renamed").await.expect("p1 again");
    assert!(!again.fresh);
    assert_eq!(again.record.name, "alpha", "the first record stands");
    let digest = crate::plugins::Digest::parse(&a.record.digest).expect("digest");
    for (program, name) in [("p1", "alpha"), ("p2", "beta")] {
        let author = Scope::PluginAuthor(program.into());
        let shown = f.engine.plugin(&author, &digest).await.expect("shown");
        assert_eq!(shown.name, name);
        let listed: Vec<String> = f
            .engine
            .plugins(&author)
            .await
            .expect("list")
            .into_iter()
            .filter(|p| p.digest == a.record.digest)
            .map(|p| p.name)
            .collect();
        assert_eq!(
            listed,
            vec![name.to_owned()],
            "{program} sees only its own name"
        );
        // Each program binds its own registration.
        f.engine
            .resolve_plugin(
                &PluginRef {
                    plugin: a.record.digest.clone(),
                    config: serde_json::json!({}),
                },
                World::Attribution,
                program,
                "attribution",
            )
            .await
            .expect("bind");
    }
    // A third program registered nothing: the digest is not its to bind or see.
    f.program("p3", "linear", serde_json::json!({})).await;
    let e = f
        .engine
        .resolve_plugin(
            &PluginRef {
                plugin: a.record.digest.clone(),
                config: serde_json::json!({}),
            },
            World::Attribution,
            "p3",
            "attribution",
        )
        .await
        .expect_err("p3");
    assert_eq!(e.kind(), "invalid-input");
    let e = f
        .engine
        .plugin(&Scope::PluginAuthor("p3".into()), &digest)
        .await
        .expect_err("p3 sees nothing");
    assert_eq!(e.kind(), "not-found");
    // An admin sees every registration, each with its program.
    let mut all: Vec<(Option<String>, String)> = f
        .engine
        .plugins(&Scope::Admin)
        .await
        .expect("admin")
        .into_iter()
        .filter(|p| p.digest == a.record.digest)
        .map(|p| (p.owner_program_id, p.name))
        .collect();
    all.sort();
    assert_eq!(
        all,
        vec![
            (Some("p1".into()), "alpha".into()),
            (Some("p2".into()), "beta".into())
        ]
    );
    f.finish().await;
}

/// An adjustment of program p around T0 to a rate table whose starter tier is 8 % + 2 %.
fn starter_at_8_percent(reason: &str, key: Option<&str>) -> AdjustmentRequest {
    let mut tiers = default_tiers();
    tiers.insert(
        "starter".into(),
        TierRate {
            base: dec("0.08"),
            bonus: dec("0.02"),
        },
    );
    AdjustmentRequest {
        program_id: "p".into(),
        from_ms: T0 - DAY,
        to_ms: T0 + DAY,
        rate_table: Some(RateTable {
            version: 0,
            effective_from_ms: 0,
            tiers,
            volume_tiers: Vec::new(),
        }),
        attribution: None,
        reason: reason.into(),
        dry_run: false,
        idempotency_key: key.map(str::to_owned),
    }
}
