//! Fresh databases for tests: a new PostgreSQL database per test (on the server named by
//! `DATABASE_URL`, default the local one), or a new SQLite file.

use crate::ids::random_token;

/// The PostgreSQL server tests use when `DATABASE_URL` is not set.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists for one test.
pub struct TestDb {
    /// Its connection URL.
    pub url: String,
    admin_url: Option<String>,
    name: String,
}

/// Replace the database name in a `postgres://` URL, keeping any query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let host_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_end..].find('/') {
        Some(slash) => &base[..host_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestDb {
    /// A fresh, empty PostgreSQL database.
    pub async fn postgres() -> anyhow::Result<Self> {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let admin_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
        let name = format!("accrue_test_{}", random_token(8));
        let mut admin = sqlx::AnyConnection::connect(&admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(Self {
            url: with_database(&admin_url, &name),
            admin_url: Some(admin_url),
            name,
        })
    }

    /// A database that exists already (a benchmark's kept one): `drop_db` leaves it be.
    pub fn existing(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            admin_url: None,
            name: String::new(),
        }
    }

    /// A fresh SQLite file under the temp directory.
    pub fn sqlite() -> Self {
        let name = format!("accrue-test-{}.db", random_token(8));
        let path = std::env::temp_dir().join(&name);
        Self {
            url: format!("sqlite://{}", path.display()),
            admin_url: None,
            name,
        }
    }

    /// Remove the database (best effort).
    pub async fn drop_db(self) {
        use sqlx::Connection;
        match &self.admin_url {
            Some(admin_url) => {
                if let Ok(mut admin) = sqlx::AnyConnection::connect(admin_url).await {
                    let _ = sqlx::query(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    ))
                    .execute(&mut admin)
                    .await;
                    let _ = admin.close().await;
                }
            }
            None => {
                let path = std::env::temp_dir().join(&self.name);
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn swaps_the_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
