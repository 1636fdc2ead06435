//! The approval job across replicas (issue 10, items 4 and 5): exactly one `approved`
//! event per entry, whoever runs the job and however often.

use super::{DAY, Fixture, T0, conversion, runtime};
use crate::engine::Engine;
use crate::store::Store;
use crate::testing::TestDb;
use sqlx::Row;
use std::sync::Arc;

/// How many `approved` events each entry has, for entries that have more than one.
async fn duplicate_approvals(store: &Store) -> Vec<(i64, i64)> {
    sqlx::query(
        "SELECT entry_id, COUNT(*) AS n FROM entry_events WHERE event = 'approved'
         GROUP BY entry_id HAVING COUNT(*) > 1 ORDER BY entry_id",
    )
    .fetch_all(store.pool())
    .await
    .expect("duplicates")
    .iter()
    .map(|r| (r.get("entry_id"), r.get("n")))
    .collect()
}

/// Two engines over one PostgreSQL database (two replicas) each run the approval job
/// from two tasks at once, several times, round after round of entries coming due: the
/// runs' counts add up to the entries, and every entry has exactly one approval.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_approve_each_entry_exactly_once_on_postgres() {
    const ROUNDS: usize = 6;
    const CONVERSIONS: usize = 150;
    const RUNS: usize = 4;
    let db = TestDb::postgres().await.expect("PostgreSQL");
    let url = db.url.clone();
    let f = Fixture::new(db).await;
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    f.partner("b", "p", "starter", "USD").await;
    let other = Engine::new(
        Store::connect(&url, 4).await.expect("second replica"),
        runtime(),
    );
    let now = T0 + 30 * DAY;
    for round in 0..ROUNDS {
        let inputs: Vec<_> = (0..CONVERSIONS)
            .map(|i| {
                conversion(
                    "p",
                    &format!("r{round}-o{i}"),
                    "100.00",
                    &[("a", 2), ("b", 1)],
                )
            })
            .collect();
        for item in f.engine.ingest_batch(&inputs).await.expect("batch") {
            item.expect("ingested");
        }
        let start = Arc::new(tokio::sync::Barrier::new(4));
        let tasks: Vec<_> = [&f.engine, &f.engine, &other, &other]
            .into_iter()
            .map(|engine| {
                let (engine, start) = (engine.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    let mut approved = 0;
                    for _ in 0..RUNS {
                        approved += engine.approve_due(now).await.expect("approve");
                    }
                    approved
                })
            })
            .collect();
        let mut approved = 0;
        for t in tasks {
            approved += t.await.expect("task");
        }
        assert_eq!(
            approved,
            (2 * CONVERSIONS) as u64,
            "round {round}: each new entry approved once in all"
        );
    }
    assert_eq!(duplicate_approvals(f.engine.store()).await, Vec::new());
    let approved: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM entry_events WHERE event = 'approved'")
            .fetch_one(f.engine.store().pool())
            .await
            .expect("count")
            .get("n");
    assert_eq!(approved, (ROUNDS * CONVERSIONS * 2) as i64);
    other.store().close().await;
    f.finish().await;
}

/// The job approves exactly the entries that came due, and reads only those: after a run
/// the queue holds the entries still on hold and the frozen ones, nothing else. A frozen
/// entry is not approved when its hold ends, and is approved by the first run after its
/// release.
pub(super) async fn approves_exactly_what_came_due(f: Fixture) {
    use crate::domain::ledger::Status;
    use crate::engine::{DisputeOutcome, OpenDispute};
    use crate::store::EntryFilter;
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "starter", "USD").await;
    // Ten conversions a day apart: holds end at T0 + 14 days, + 15, ..., + 23.
    for i in 0..10 {
        let mut c = conversion("p", &format!("o{i}"), "100.00", &[("a", 1)]);
        c.occurred_at_ms = T0 + i * DAY;
        c.touchpoints[0].occurred_at_ms = c.occurred_at_ms - DAY;
        f.ingest(&c).await;
    }
    let entries = |f: &Fixture| {
        let store = f.engine.store().clone();
        async move {
            store
                .entries(&EntryFilter {
                    limit: 100,
                    ..Default::default()
                })
                .await
                .expect("entries")
        }
    };
    let all = entries(&f).await;
    assert_eq!(
        f.engine
            .store()
            .approval_queue()
            .await
            .expect("queue")
            .len(),
        10
    );
    // o3's entry is disputed before its hold ends.
    let frozen = all
        .iter()
        .find(|e| e.conversion_id.as_deref() == Some("o3"))
        .expect("o3")
        .id;
    let dispute = f
        .engine
        .open_dispute(&OpenDispute {
            program_id: "p".into(),
            conversion_id: "o3".into(),
            entry_id: Some(frozen),
            opened_by: "key_admin".into(),
            scope: crate::engine::Scope::Admin,
            reason: "check".into(),
            idempotency_key: None,
        })
        .await
        .expect("dispute");
    let now = T0 + 18 * DAY;
    assert_eq!(
        f.engine.approve_due(now).await.expect("approve"),
        4,
        "o0, o1, o2 and o4 came due; o3 is frozen"
    );
    for e in entries(&f).await {
        let expected = if e.id == frozen {
            Status::Frozen
        } else if e.hold_until_ms <= now {
            Status::Approved
        } else {
            Status::Pending
        };
        assert_eq!(e.status, expected, "entry {} due {}", e.id, e.hold_until_ms);
    }
    let queue = f.engine.store().approval_queue().await.expect("queue");
    assert_eq!(queue.len(), 6, "five on hold and the frozen one: {queue:?}");
    assert!(
        queue.iter().all(|&(due, id)| due > now || id == frozen),
        "only undue or frozen entries wait: {queue:?}"
    );
    assert_eq!(f.engine.approve_due(now).await.expect("again"), 0);
    f.engine
        .resolve_dispute(
            &dispute.id,
            DisputeOutcome::Rejected,
            "key_admin",
            "fine",
            None,
        )
        .await
        .expect("release");
    assert_eq!(
        f.engine.approve_due(now).await.expect("after release"),
        1,
        "the released entry was due"
    );
    assert_eq!(
        f.engine
            .store()
            .approval_queue()
            .await
            .expect("queue")
            .len(),
        5
    );
    assert_eq!(
        f.engine.approve_due(T0 + 40 * DAY).await.expect("the rest"),
        5
    );
    assert!(
        f.engine
            .store()
            .approval_queue()
            .await
            .expect("queue")
            .is_empty()
    );
    f.finish().await;
}
