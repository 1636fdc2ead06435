//! Two service processes on one PostgreSQL database: the same 500 conversions posted to
//! both at once are stored exactly once, and every answer agrees.

use crate::support::{ADMIN_KEY, Server, conversion, postgres};
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_store_each_conversion_once() {
    let db = postgres().await;
    let one = Arc::new(Server::start(&db.url, &[]).await);
    let two = Arc::new(Server::start(&db.url, &[]).await);
    one.program("p", "USD", "linear").await;
    one.partner("a", "p", json!({"tier": "professional"})).await;
    one.partner("b", "p", json!({"tier": "starter"})).await;
    let bodies: Vec<serde_json::Value> = (0..500)
        .map(|i| {
            conversion(
                "p",
                &format!("order-{i}"),
                &format!("{}.{:02}", 10 + i, i % 100),
                &[
                    ("a", "email", "2026-03-08T00:00:00Z"),
                    ("b", "social", "2026-03-09T00:00:00Z"),
                ],
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for server in [one.clone(), two.clone()] {
        for chunk in bodies.chunks(50) {
            let server = server.clone();
            let chunk = chunk.to_vec();
            tasks.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                for body in chunk {
                    let r = server
                        .call(
                            Method::POST,
                            "/v1/conversions",
                            Some(ADMIN_KEY),
                            Some(body.clone()),
                        )
                        .await;
                    answers.push((
                        body["id"].as_str().unwrap_or_default().to_owned(),
                        r.status.as_u16(),
                        r.body,
                    ));
                }
                answers
            }));
        }
    }
    let mut by_key: HashMap<String, Vec<(u16, serde_json::Value)>> = HashMap::new();
    for t in tasks {
        for (key, status, body) in t.await.expect("task") {
            by_key.entry(key).or_default().push((status, body));
        }
    }
    assert_eq!(by_key.len(), 500);
    for (key, answers) in &by_key {
        let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 201],
            "{key}: one creation and one replay, got {answers:?}"
        );
        assert_eq!(
            answers[0].1, answers[1].1,
            "{key}: both replicas answer the same body"
        );
    }
    let mut seen = 0;
    let mut cursor = String::new();
    loop {
        let page = one
            .admin_get(&format!("/v1/commissions?program_id=p&limit=1000{cursor}"))
            .await;
        let items = page.body["items"].as_array().expect("items").len();
        seen += items;
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, 1000, "500 conversions × 2 partners, no duplicates");
    drop(one);
    drop(two);
    db.drop_db().await;
}
