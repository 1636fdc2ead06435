//! The dashboard in a real browser: a program with four partners, three months of clicks,
//! leads and sales (each sale naming its click), returning customers and a refund; the
//! figures the page must show are read from the API here, written to a file, and
//! `tests/browser/dashboard.mjs` (playwright-core driving Debian's Chromium) checks the
//! partner's and the admin's views against them, measures navigation start to the last
//! chart drawn, and saves screenshots under `target/screenshots/`.

use crate::support::{ADMIN_KEY, Server, postgres};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The repository's root.
fn root() -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests.parent().unwrap_or(tests).to_path_buf()
}

/// The partner whose key signs in.
const PARTNER: &str = "alice";
/// A partner whose figures the first must never see (a name no other text contains).
const OTHER: &str = "bruno";

/// `(id, tier, last active day, first active day, clicks a day)`, days counted back from
/// now: `dmitri` stopped 40 days ago (a churn risk), `carmen` started 45 days ago (growth).
const PARTNERS: &[(&str, &str, i64, i64, i64)] = &[
    (PARTNER, "professional", 0, 75, 9),
    (OTHER, "starter", 0, 75, 4),
    ("carmen", "enterprise", 0, 45, 6),
    ("dmitri", "starter", 40, 90, 7),
];

/// Seconds from a click to its sale, cycling through the time-to-convert buckets.
const DELAYS_S: [i64; 8] = [20, 200, 900, 2_400, 7_200, 30_000, 100_000, 400_000];
const AMOUNTS: [&str; 6] = ["49.90", "19.99", "129.00", "75.50", "240.00", "12.25"];

/// Days since 1970-01-01 as a (year, month, day) of the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`): the e2e crate has no date library.
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The UTC day of unix seconds, `YYYY-MM-DD`.
fn day(unix_s: i64) -> String {
    let (y, m, d) = civil(unix_s.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Unix seconds as RFC 3339, UTC.
fn rfc3339(unix_s: i64) -> String {
    let (y, m, d) = civil(unix_s.div_euclid(86_400));
    let s = unix_s.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3_600,
        s / 60 % 60,
        s % 60
    )
}

/// What was posted: the events, the conversions, and their counts.
struct World {
    events: Vec<Value>,
    conversions: Vec<Value>,
    leads: usize,
}

/// Every partner's clicks over its active days; every third click a lead, every sixth a
/// sale naming its click, a third of the sales by a returning customer.
fn world(now_s: i64) -> World {
    let (mut events, mut conversions, mut leads) = (Vec::new(), Vec::new(), 0);
    for &(partner, _, last, first, per_day) in PARTNERS {
        let (mut n, mut customers) = (0_i64, 0_i64);
        for day in (last..=first).rev() {
            for i in 0..per_day + (day * 7 + partner.len() as i64) % 5 {
                n += 1;
                let sale_at = now_s - day * 86_400 - 600 - i * 60;
                let sale = n % 6 == 0;
                let click_at = if sale {
                    sale_at - DELAYS_S[(n / 6 % 8) as usize]
                } else {
                    sale_at
                };
                let channel = ["email", "social", "search"][(n % 3) as usize];
                let campaign = ["spring", "winter"][(n % 2) as usize];
                let click_id = format!("c-{partner}-{n}");
                events.push(json!({
                    "id": click_id, "program_id": "shop", "kind": "click", "partner_id": partner,
                    "occurred_at": rfc3339(click_at), "channel": channel, "campaign": campaign,
                    "visitor_id": format!("v-{partner}-{n}"),
                }));
                if n % 3 == 0 {
                    leads += 1;
                    events.push(json!({
                        "id": format!("l-{partner}-{n}"), "program_id": "shop", "kind": "lead",
                        "partner_id": partner, "occurred_at": rfc3339(click_at + 10),
                        "channel": channel, "campaign": campaign,
                        "visitor_id": format!("v-{partner}-{n}"), "click_id": click_id,
                    }));
                }
                if sale {
                    let k = n / 6;
                    let (customer, new) = if k % 3 == 2 && customers > 0 {
                        (k % customers, false)
                    } else {
                        customers += 1;
                        (customers - 1, true)
                    };
                    conversions.push(json!({
                        "program_id": "shop", "id": format!("o-{partner}-{n}"),
                        "amount": AMOUNTS[(k % 6) as usize], "currency": "USD",
                        "occurred_at": rfc3339(sale_at), "country": "US",
                        "customer_id": format!("cust-{partner}-{customer}"), "new_customer": new,
                        "click_id": click_id,
                        "touchpoints": [{"partner_id": partner, "channel": channel,
                            "campaign": campaign, "occurred_at": rfc3339(click_at)}],
                    }));
                }
            }
        }
    }
    // Two sales 4 s after their click, yesterday: the fraud rule for too-fast conversions
    // (10 s by default) raises an alert for each.
    for i in 0..2 {
        let at = now_s - 86_400 - 3_600 * (i + 1);
        let click_id = format!("c-fast-{i}");
        events.push(json!({
            "id": click_id, "program_id": "shop", "kind": "click", "partner_id": "carmen",
            "occurred_at": rfc3339(at - 4), "channel": "search", "visitor_id": format!("v-fast-{i}"),
        }));
        conversions.push(json!({
            "program_id": "shop", "id": format!("o-fast-{i}"), "amount": "99.00", "currency": "USD",
            "occurred_at": rfc3339(at), "country": "US", "customer_id": format!("cust-fast-{i}"),
            "new_customer": true, "click_id": click_id,
            "touchpoints": [{"partner_id": "carmen", "channel": "search", "occurred_at": rfc3339(at - 4)}],
        }));
    }
    conversions.sort_by(|a, b| a["occurred_at"].as_str().cmp(&b["occurred_at"].as_str()));
    World {
        events,
        conversions,
        leads,
    }
}

/// A GET with `key`, expecting success.
async fn get(s: &Server, path: &str, key: &str) -> Value {
    let r = s.call(Method::GET, path, Some(key), None).await;
    assert!(r.status.is_success(), "GET {path}: {} {}", r.status, r.body);
    r.body
}

/// A GET with `key`, whatever it answers: `{"status", "body"}`.
async fn answer(s: &Server, path: &str, key: &str) -> Value {
    let r = s.call(Method::GET, path, Some(key), None).await;
    json!({"status": r.status.as_u16(), "body": r.body})
}

/// Post the world, a refund, and the keys; returns (partner key, plug-in author key).
async fn seed(s: &Server, w: &World) -> (String, String) {
    s.admin(
        Method::POST,
        "/v1/programs",
        json!({"id": "shop", "name": "Shop", "currency": "USD",
            "attribution": {"plugin": "last-touch"}, "hold_days": 14}),
    )
    .await;
    s.admin(
        Method::POST,
        "/v1/programs",
        json!({"id": "outlet", "name": "Outlet", "currency": "EUR",
            "attribution": {"plugin": "last-touch"}}),
    )
    .await;
    for &(id, tier, ..) in PARTNERS {
        s.partner(id, "shop", json!({"tier": tier})).await;
    }
    for chunk in w.events.chunks(10_000) {
        let r = s
            .admin(Method::POST, "/v1/events/batch", json!({"events": chunk}))
            .await;
        assert_eq!(r["errors"], 0, "events: {r}");
    }
    for chunk in w.conversions.chunks(500) {
        let r = s
            .admin(
                Method::POST,
                "/v1/conversions/batch",
                json!({"conversions": chunk}),
            )
            .await;
        let failed: Vec<&Value> = r["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|x| x["status"] != "created")
            .collect();
        assert!(failed.is_empty(), "conversions: {failed:?}");
    }
    s.admin(
        Method::POST,
        &format!("/v1/conversions/o-{PARTNER}-12/refunds"),
        json!({"program_id": "shop", "amount": "10.00", "id": "r-1"}),
    )
    .await;
    let partner = s
        .admin(
            Method::POST,
            "/v1/api-keys",
            json!({"scope": "partner", "partner_id": PARTNER, "label": "dashboard test"}),
        )
        .await;
    let author = s
        .admin(
            Method::POST,
            "/v1/api-keys",
            json!({"scope": "plugin_author", "program_id": "shop", "label": "dashboard test"}),
        )
        .await;
    (
        partner["key"].as_str().expect("partner key").to_owned(),
        author["key"].as_str().expect("author key").to_owned(),
    )
}

/// Wait until the rollups hold everything posted (the analytics job runs every 100 ms)
/// and the approval loop has approved what is past its hold, so that the figures the
/// browser reads are the ones computed here.
async fn wait_settled(s: &Server, w: &World, now_s: i64) {
    // Every fact posted is within these days (the clicks begin 96 days ago).
    let range = format!(
        "program_id=shop&from={}&to={}&time_zone=UTC&interval=month",
        day(now_s - 120 * 86_400),
        day(now_s)
    );
    let clicks = w.events.len() - w.leads;
    let started = Instant::now();
    loop {
        let revenue = get(
            s,
            &format!("/affiliate/analytics/revenue?{range}"),
            ADMIN_KEY,
        )
        .await;
        let funnel = get(
            s,
            &format!("/affiliate/analytics/conversions?{range}"),
            ADMIN_KEY,
        )
        .await;
        let t = &revenue["program_currency_totals"];
        let balance = get(s, &format!("/v1/partners/{PARTNER}/balance"), ADMIN_KEY).await;
        if t["conversions"] == w.conversions.len()
            && t["refunded"] == "10.00"
            && funnel["totals"]["clicks"] == clicks
            && funnel["totals"]["leads"] == w.leads
            && balance["balances"][0]["approved"] != "0.00"
        {
            // One more approval run may still be under way: read the balance again.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            if get(s, &format!("/v1/partners/{PARTNER}/balance"), ADMIN_KEY).await == balance {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the analytics never caught up: revenue {t}, funnel {}, balance {balance}",
            funnel["totals"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The API's answers for what each view shows, over the page's default range (the last
/// 30 days to today, UTC: the browser runs in UTC).
async fn expected(s: &Server, partner_key: &str) -> Value {
    // The API's own default range is the page's: 29 days before today, to today.
    let probe = get(s, "/affiliate/analytics/revenue?time_zone=UTC", partner_key).await;
    let (from, to) = (
        probe["from"].as_str().expect("from").to_owned(),
        probe["to"].as_str().expect("to").to_owned(),
    );
    let q = format!("from={from}&to={to}&time_zone=UTC&interval=day");
    let p = |path: &str| format!("/affiliate/analytics/{path}?{q}");
    let a = |path: &str| format!("/affiliate/analytics/{path}?program_id=shop&{q}");
    let rank = |by: &str| {
        format!(
            "/affiliate/analytics/ranking?program_id=shop&from={from}&to={to}&time_zone=UTC&by={by}"
        )
    };
    let bad = s
        .call(Method::GET, "/v1/me", Some("acc_not_a_real_key"), None)
        .await;
    bad.assert_problem(401, "unauthorized", "a bad key");
    json!({
        "time_zone": "UTC", "from": from, "to": to, "interval": "day",
        "unauthorized_detail": bad.body["detail"],
        "partner": {
            "partner_id": PARTNER, "program_id": "shop",
            "revenue": get(s, &p("revenue"), partner_key).await,
            "conversions": get(s, &p("conversions"), partner_key).await,
            "customers": get(s, &p("customers"), partner_key).await,
            "roi": get(s, &p("roi"), partner_key).await,
            "balance": get(s, &format!("/v1/partners/{PARTNER}/balance"), partner_key).await,
            "payouts": get(s, &format!("/v1/partners/{PARTNER}/payouts"), partner_key).await,
        },
        "admin": {
            "program_id": "shop",
            "programs": get(s, "/v1/programs", ADMIN_KEY).await,
            "revenue": get(s, &a("revenue"), ADMIN_KEY).await,
            "ranking": get(s, &rank("revenue"), ADMIN_KEY).await,
            "ranking_by_conversions": get(s, &rank("conversions"), ADMIN_KEY).await,
            "forecast": answer(s, "/affiliate/analytics/forecast?program_id=shop", ADMIN_KEY).await,
            "churn": get(s, "/affiliate/analytics/churn?program_id=shop", ADMIN_KEY).await,
            "fraud": answer(s, "/v1/fraud-alerts?program_id=shop&status=open&limit=25", ADMIN_KEY).await,
        },
    })
}

/// Node, playwright-core and Chromium are there, or the test fails saying how to get them
/// (it never skips).
fn require_tools(browser_dir: &Path) {
    let hint = "run `bash tests/run.sh` once: it installs Debian's chromium and runs `npm ci` in tests/browser";
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "cannot run node ({node:?}); {hint}"
    );
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules/playwright-core is missing; {hint}"
    );
    let chromium = std::env::var("ACCRUE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing; {hint}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_apis_figures_in_a_browser() {
    let browser_dir = root().join("tests/browser");
    require_tools(&browser_dir);

    let db = postgres().await;
    let s = Server::start(
        &db.url,
        &[
            ("ACCRUE_ANALYTICS_EVERY_MS", "100"),
            ("ACCRUE_APPROVE_EVERY_S", "1"),
        ],
    )
    .await;
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let w = world(now_s);
    let (partner_key, author_key) = seed(&s, &w).await;
    wait_settled(&s, &w, now_s).await;

    let figures = expected(&s, &partner_key).await;
    let port = s.base.rsplit(':').next().unwrap_or("0").to_owned();
    let expected_path = std::env::temp_dir().join(format!("accrue-dashboard-{port}.json"));
    std::fs::write(
        &expected_path,
        serde_json::to_vec_pretty(&figures).expect("JSON"),
    )
    .expect("write the expected figures");
    let shots = root().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot directory");

    let mut cmd = Command::new("node");
    cmd.arg(browser_dir.join("dashboard.mjs"))
        .current_dir(&browser_dir)
        .env("ACCRUE_BASE_URL", &s.base)
        .env("ACCRUE_ADMIN_KEY", ADMIN_KEY)
        .env("ACCRUE_PARTNER_KEY", &partner_key)
        .env("ACCRUE_AUTHOR_KEY", &author_key)
        .env("ACCRUE_OTHER_PARTNER", OTHER)
        .env("ACCRUE_EXPECTED", &expected_path)
        .env("ACCRUE_SCREENSHOTS", &shots);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run node tests/browser/dashboard.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    println!("dashboard screenshots: {}", shots.display());
    let _ = std::fs::remove_file(&expected_path);
    assert!(
        out.status.success(),
        "the browser checks failed ({}): the FAIL lines above say which",
        out.status
    );
    let times: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    println!(
        "dashboard: navigation start to the last chart drawn: partner {} ms, admin {} ms",
        times["partner_ms"], times["admin_ms"]
    );
    drop(s);
    db.drop_db().await;
}
