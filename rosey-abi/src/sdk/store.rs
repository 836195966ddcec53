//! The plugin's configuration and key-value store, as a hook sees them.

use std::{fmt, str::FromStr, time::Duration};

use abi_stable::std_types::{RSlice, RStr};

use super::{Error, PluginResult};
use crate::ffi::{FfiConfig, HostRef};

/// The plugin's configuration (`data/plugins/<name>/config.yaml`).
///
/// Scalars are looked up by dotted path (`limits.max_dice`); the whole document is available as
/// JSON for authors who want to deserialize it with a parser of their own.
#[derive(Clone, Copy)]
pub struct Config<'a> {
    raw: &'a FfiConfig,
}

/// The keys only: a value may be a secret.
impl fmt::Debug for Config<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.raw.flat.iter().map(|pair| pair.0.as_str()).collect();
        f.debug_struct("Config")
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

impl<'a> Config<'a> {
    /// Wraps the host's configuration.
    pub fn new(raw: &'a FfiConfig) -> Self {
        Config { raw }
    }

    /// The text of the scalar at `key`, if set.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.raw
            .flat
            .iter()
            .find(|pair| pair.0.as_str() == key)
            .map(|pair| pair.1.as_str())
    }

    /// The scalar at `key` parsed as `T`; `Err` names the key when the value does not parse.
    pub fn parse<T: FromStr>(&self, key: &str) -> PluginResult<Option<T>>
    where
        T::Err: fmt::Display,
    {
        match self.get(key) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|err| Error::msg(format!("config key `{key}` = {text:?}: {err}"))),
        }
    }

    /// The scalar at `key` parsed as `T`, or `default` when unset.
    pub fn get_or<T: FromStr>(&self, key: &str, default: T) -> PluginResult<T>
    where
        T::Err: fmt::Display,
    {
        Ok(self.parse(key)?.unwrap_or(default))
    }

    /// The scalar at `key` read as a duration (`90s`, `10m`, `1h30m`, `2d`; see
    /// [`crate::args::parse_duration`]), or `default` when unset; `Err` names the key when the
    /// value is not a duration.
    pub fn duration_or(&self, key: &str, default: Duration) -> PluginResult<Duration> {
        match self.get(key) {
            None => Ok(default),
            Some(text) => crate::args::parse_duration(text)
                .map_err(|err| Error::msg(format!("config key `{key}` = {text:?}: {err}"))),
        }
    }

    /// The whole configuration as JSON.
    pub fn json(&self) -> &'a str {
        self.raw.json.as_str()
    }
}

/// The plugin's key-value store: a SQLite file inside its storage folder, owned by the host.
pub struct Kv<'a> {
    pub(super) host: HostRef<'a>,
}

impl fmt::Debug for Kv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kv").finish_non_exhaustive()
    }
}

impl Kv<'_> {
    /// The value at `key`, if any.
    pub fn get(&self, key: &str) -> PluginResult<Option<Vec<u8>>> {
        self.host
            .kv_get(RStr::from(key))
            .into_result()
            .map(|value| value.into_option().map(|bytes| bytes.into_vec()))
            .map_err(|err| Error::msg(err.into_string()))
    }

    /// The value at `key` as UTF-8 text, if any.
    pub fn get_string(&self, key: &str) -> PluginResult<Option<String>> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| Error::msg(format!("kv value at `{key}` is not UTF-8"))),
        }
    }

    /// Store `value` at `key`, replacing what was there.
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> PluginResult<()> {
        self.host
            .kv_set(RStr::from(key), RSlice::from_slice(value.as_ref()))
            .into_result()
            .map_err(|err| Error::msg(err.into_string()))
    }

    /// Delete `key`; `true` when it existed.
    pub fn delete(&self, key: &str) -> PluginResult<bool> {
        self.host
            .kv_delete(RStr::from(key))
            .into_result()
            .map_err(|err| Error::msg(err.into_string()))
    }

    /// Every key starting with `prefix`, sorted (`""` lists all).
    pub fn list(&self, prefix: &str) -> PluginResult<Vec<String>> {
        self.host
            .kv_list(RStr::from(prefix))
            .into_result()
            .map(|keys| keys.into_iter().map(|key| key.into_string()).collect())
            .map_err(|err| Error::msg(err.into_string()))
    }
}
