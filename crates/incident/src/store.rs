//! Incidents stored in one SQLite file (WAL), so a restart loses nothing.
//!
//! Every call here is blocking: callers run it on the blocking pool (`spawn_blocking`).

use crate::incident::{Ack, Incident, Kind};
use crate::timestamp::Millis;
use crate::tracker::Change;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// The schema version written to `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file cannot be opened or is not an incident database (corrupted, or another file).
    #[error("storage {path}: {message}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// A query failed.
    #[error("storage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row is not readable.
    #[error("storage: unreadable row: {0}")]
    Row(String),
}

/// The incident database.
pub struct Store {
    conn: Connection,
}

fn open_error(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and checks it is intact.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn =
            Connection::open(path).map_err(|e| open_error(path, format!("cannot open: {e}")))?;
        // Wait for another connection's write (a backup tool, `sqlite3` reading it) rather than
        // failing at once.
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| open_error(path, format!("cannot open: {e}")))?;
        let corrupt = |e: rusqlite::Error| {
            open_error(
                path,
                format!(
                    "not a readable incident database ({e}); move the file aside (or restore a backup) and start again"
                ),
            )
        };
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(corrupt)?;
        if check != "ok" {
            return Err(open_error(
                path,
                format!("the database is damaged ({check}); move the file aside (or restore a backup) and start again"),
            ));
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(corrupt)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_error(
                path,
                format!("cannot use WAL journal mode (got {mode})"),
            ));
        }
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS incidents (
                 fingerprint TEXT NOT NULL,
                 start_ms INTEGER NOT NULL,
                 labels TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 ack_ms INTEGER,
                 ack_by TEXT,
                 ack_comment TEXT,
                 ack_via TEXT,
                 resolved_ms INTEGER,
                 PRIMARY KEY (fingerprint, start_ms)
             );
             CREATE INDEX IF NOT EXISTS incidents_resolved ON incidents (resolved_ms);",
        )
        .map_err(corrupt)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(corrupt)?;
        if version == 0 {
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(corrupt)?;
        } else if version != SCHEMA_VERSION {
            return Err(open_error(
                path,
                format!("schema version {version} is not the supported {SCHEMA_VERSION}"),
            ));
        }
        Ok(Store { conn })
    }

    /// Every stored incident, oldest first.
    pub fn load_all(&self) -> Result<Vec<Incident>, StoreError> {
        let mut out = Vec::new();
        self.for_each(|i| out.push(i))?;
        Ok(out)
    }

    /// Calls `f` with every stored incident, oldest first, one row at a time (the history is
    /// never held in memory whole).
    pub fn for_each(&self, mut f: impl FnMut(Incident)) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT fingerprint, start_ms, labels, kind, ack_ms, ack_by, ack_comment, ack_via, resolved_ms
             FROM incidents ORDER BY start_ms",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<i64>>(8)?,
            ))
        })?;
        for row in rows {
            let (fingerprint, start, labels, kind, ack_ms, by, comment, via, resolved) = row?;
            let labels = serde_json::from_str(&labels)
                .map_err(|e| StoreError::Row(format!("labels of {fingerprint}: {e}")))?;
            let kind = Kind::parse(&kind)
                .ok_or_else(|| StoreError::Row(format!("kind {kind:?} of {fingerprint}")))?;
            f(Incident {
                fingerprint,
                start,
                labels,
                kind,
                ack: ack_ms.map(|at| Ack {
                    at,
                    by: by.unwrap_or_default(),
                    comment: comment.unwrap_or_default(),
                    via: via.unwrap_or_default(),
                }),
                resolved,
                last_ends_at: None,
            });
        }
        Ok(())
    }

    /// Stores the incidents of `changes` (each row written whole), in one transaction.
    pub fn apply(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO incidents (fingerprint, start_ms, labels, kind, ack_ms, ack_by, ack_comment, ack_via, resolved_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (fingerprint, start_ms) DO UPDATE SET
                   labels = excluded.labels, kind = excluded.kind, ack_ms = excluded.ack_ms,
                   ack_by = excluded.ack_by, ack_comment = excluded.ack_comment,
                   ack_via = excluded.ack_via, resolved_ms = excluded.resolved_ms",
            )?;
            for c in changes {
                let i = &c.incident;
                let labels =
                    serde_json::to_string(&i.labels).map_err(|e| StoreError::Row(e.to_string()))?;
                stmt.execute(params![
                    i.fingerprint,
                    i.start,
                    labels,
                    i.kind.as_str(),
                    i.ack.as_ref().map(|a| a.at),
                    i.ack.as_ref().map(|a| a.by.as_str()),
                    i.ack.as_ref().map(|a| a.comment.as_str()),
                    i.ack.as_ref().map(|a| a.via.as_str()),
                    i.resolved,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes incidents resolved before `before`; returns how many.
    pub fn prune(&mut self, before: Millis) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM incidents WHERE resolved_ms IS NOT NULL AND resolved_ms < ?1",
            params![before],
        )?)
    }

    /// Number of stored incidents.
    pub fn count(&self) -> Result<u64, StoreError> {
        let n: Option<i64> = self
            .conn
            .query_row("SELECT COUNT(*) FROM incidents", [], |r| r.get(0))
            .optional()?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::Event;

    fn inc(fp: &str, start: Millis) -> Incident {
        Incident {
            fingerprint: fp.into(),
            start,
            labels: [("severity".to_string(), "critical".to_string())].into(),
            kind: Kind::Incident,
            ack: None,
            resolved: None,
            last_ends_at: None,
        }
    }

    #[test]
    fn rows_round_trip_and_update_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.db");
        let mut s = Store::open(&path).unwrap();
        let mut a = inc("a", 1000);
        s.apply(&[Change {
            event: Event::Started,
            incident: a.clone(),
        }])
        .unwrap();
        a.ack = Some(Ack {
            at: 2000,
            by: "alice".into(),
            comment: "on it".into(),
            via: "api".into(),
        });
        a.resolved = Some(3000);
        s.apply(&[Change {
            event: Event::Resolved,
            incident: a.clone(),
        }])
        .unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.load_all().unwrap(), vec![a]);
        assert_eq!(s.count().unwrap(), 1);
    }

    #[test]
    fn prune_keeps_open_incidents() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("i.db")).unwrap();
        let mut old = inc("old", 0);
        old.resolved = Some(10);
        let open = inc("open", 0);
        s.apply(&[
            Change {
                event: Event::Resolved,
                incident: old,
            },
            Change {
                event: Event::Started,
                incident: open.clone(),
            },
        ])
        .unwrap();
        assert_eq!(s.prune(100).unwrap(), 1);
        assert_eq!(s.load_all().unwrap(), vec![open]);
    }

    #[test]
    fn a_corrupted_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.db");
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        let err = Store::open(&path).err().unwrap().to_string();
        assert!(err.contains("not a readable incident database"), "{err}");
        assert!(err.contains("move the file aside"), "{err}");
    }
}
