//! Per-plugin storage: the folder a plugin owns and the key-value store inside it.
//!
//! The key-value store is a SQLite file (`kv.sqlite3`) in the plugin's storage folder. The host
//! opens it on the plugin's own thread; plugins never see another plugin's folder or file.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

/// The store's file inside a plugin's storage folder.
pub const KV_FILE_NAME: &str = "kv.sqlite3";

/// A storage failure, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("plugin storage {path}: {source}")]
pub struct StorageError {
    path: PathBuf,
    #[source]
    source: rusqlite::Error,
}

/// A plugin's key-value store.
#[derive(Debug)]
pub struct KvStore {
    connection: Connection,
    path: PathBuf,
}

impl KvStore {
    /// Opens (creating if needed) the store inside `storage_dir`.
    pub fn open(storage_dir: &Path) -> Result<KvStore, StorageError> {
        let path = storage_dir.join(KV_FILE_NAME);
        let wrap = |source| StorageError {
            path: path.clone(),
            source,
        };
        let connection = Connection::open(&path).map_err(wrap)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA busy_timeout = 5000;
                 CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL);",
            )
            .map_err(wrap)?;
        Ok(KvStore { connection, path })
    }

    fn wrap(&self, source: rusqlite::Error) -> StorageError {
        StorageError {
            path: self.path.clone(),
            source,
        }
    }

    /// The value at `key`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.connection
            .query_row("SELECT value FROM kv WHERE key = ?1", params![key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|err| self.wrap(err))
    }

    /// Stores `value` at `key`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.connection
            .execute(
                "INSERT INTO kv (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
            .map_err(|err| self.wrap(err))
    }

    /// Deletes `key`; `true` when it existed.
    pub fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.connection
            .execute("DELETE FROM kv WHERE key = ?1", params![key])
            .map(|rows| rows > 0)
            .map_err(|err| self.wrap(err))
    }

    /// Keys that start with `prefix`, sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut statement = self
            .connection
            .prepare("SELECT key FROM kv WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key")
            .map_err(|err| self.wrap(err))?;
        let keys = statement
            .query_map(params![prefix], |row| row.get(0))
            .map_err(|err| self.wrap(err))?
            .collect::<Result<Vec<String>, _>>()
            .map_err(|err| self.wrap(err));
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_delete_list() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv = KvStore::open(dir.path()).expect("open");
        kv.set("quote:1", b"hello").expect("set");
        kv.set("quote:2", b"world").expect("set");
        kv.set("other", b"x").expect("set");
        assert_eq!(kv.get("quote:1").expect("get"), Some(b"hello".to_vec()));
        assert_eq!(kv.list("quote:").expect("list"), ["quote:1", "quote:2"]);
        assert!(kv.delete("quote:1").expect("delete"));
        assert!(!kv.delete("quote:1").expect("delete again"));
        assert_eq!(kv.get("quote:1").expect("get"), None);
        drop(kv);
        let reopened = KvStore::open(dir.path()).expect("reopen");
        assert_eq!(
            reopened.get("quote:2").expect("get"),
            Some(b"world".to_vec())
        );
    }

    #[test]
    fn prefixes_with_like_wildcards_match_literally() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv = KvStore::open(dir.path()).expect("open");
        kv.set("a%b", b"1").expect("set");
        kv.set("axb", b"2").expect("set");
        assert_eq!(kv.list("a%").expect("list"), ["a%b"]);
    }
}
