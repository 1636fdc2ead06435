//! Store-level tests that are about the store's own settings and guarantees rather than
//! the engine's behaviour (those are in `engine/tests.rs`, on both backends).

use super::Store;
use crate::testing::TestDb;

/// Item 8 of issue 10: every connection of an SQLite store syncs each commit to disk
/// (`synchronous = FULL`, which SQLite reads back as 2), so an acknowledged write survives
/// a power cut.
#[tokio::test]
async fn sqlite_commits_are_durable() {
    let db = TestDb::sqlite();
    let store = Store::connect(&db.url, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    let level = store.sqlite_synchronous().await.expect("pragma");
    assert_eq!(level, 2, "PRAGMA synchronous must read FULL (2)");
    store.close().await;
    db.drop_db().await;
}
