//! How `rosey.yaml` reads where serde's defaults would say something unhelpful: a bare
//! section key means "all defaults", and a port gets a message saying what a port is.

use serde::{Deserialize, Deserializer};

/// A section written as a bare key (`nats:` with every line under it commented out) is null in
/// YAML; it means "all defaults", not an error.
pub(super) fn section<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A port, with a message that says what a port is rather than "expected u16". The check runs
/// inside the visitor, so the error carries the key path (`nats.port`).
pub(super) fn port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    struct Port;
    impl serde::de::Visitor<'_> for Port {
        type Value = u16;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a port number (1 to 65535, or 0 to pick a free port at start)")
        }

        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<u16, E> {
            u16::try_from(value).map_err(|_| {
                E::custom(format!(
                    "{value} is not a port: use 1 to 65535, or 0 to pick a free port at start"
                ))
            })
        }

        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<u16, E> {
            match u64::try_from(value) {
                Ok(value) => self.visit_u64(value),
                Err(_) => Err(E::custom(format!(
                    "{value} is not a port: use 1 to 65535, or 0 to pick a free port at start"
                ))),
            }
        }
    }
    // `any`, not `u64`: YAML hands `-1` to `visit_i64` only when asked for any number.
    deserializer.deserialize_any(Port)
}
