//! A chat user's rank in the channel, as CyTube numbers them: -1 anonymous, 0 guest,
//! 1 registered, 2 moderator, 3 admin, 4 owner, 5 founder, 255 site admin.
//!
//! Ranks decide who may use a command (`min_rank` in a manifest; [`crate::Command::rank`] in a
//! plugin) and who is spared the rate limits (`bot.rate_limit.exempt_rank`). Operators and
//! authors write them by name (`moderator`) or by number; they are compared as numbers, so a
//! rank the server invents between two known ones still orders right. Defined here, in the
//! crate every plugin depends on, so plugins and the daemon share one type.

use std::{fmt, str::FromStr};

/// A rank: higher may do more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rank(pub i64);

/// The ranks with names, lowest first.
const NAMED: [(&str, i64); 8] = [
    ("anonymous", -1),
    ("guest", 0),
    ("registered", 1),
    ("moderator", 2),
    ("admin", 3),
    ("owner", 4),
    ("founder", 5),
    ("siteadmin", 255),
];

impl Rank {
    /// Not logged in.
    pub const ANONYMOUS: Rank = Rank(-1);
    /// A guest login.
    pub const GUEST: Rank = Rank(0);
    /// A registered account: what `rosey say` users are unless told otherwise.
    pub const REGISTERED: Rank = Rank(1);
    /// A channel moderator.
    pub const MODERATOR: Rank = Rank(2);
    /// A channel admin.
    pub const ADMIN: Rank = Rank(3);
    /// The channel's owner.
    pub const OWNER: Rank = Rank(4);

    /// Its name, when it has one.
    pub fn name(self) -> Option<&'static str> {
        NAMED
            .iter()
            .find(|(_, number)| *number == self.0)
            .map(|(name, _)| *name)
    }
}

impl fmt::Display for Rank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Why text is not a rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankError(pub String);

impl fmt::Display for RankError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a rank: use guest, registered, moderator, admin, owner, founder, or a number",
            self.0
        )
    }
}

impl std::error::Error for RankError {}

impl FromStr for Rank {
    type Err = RankError;

    fn from_str(text: &str) -> Result<Rank, RankError> {
        let word = text.trim().to_ascii_lowercase();
        if let Some((_, number)) = NAMED.iter().find(|(name, _)| *name == word) {
            return Ok(Rank(*number));
        }
        word.parse()
            .map(Rank)
            .map_err(|_| RankError(text.to_owned()))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Rank {
    /// By name where it has one (what an author would write), else the number.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.name() {
            Some(name) => serializer.serialize_str(name),
            None => serializer.serialize_i64(self.0),
        }
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Rank {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rank, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(i64),
            Name(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(number) => Ok(Rank(number)),
            Written::Name(name) => name.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_read_by_name_or_number_and_order_as_numbers() {
        assert_eq!("Moderator".parse(), Ok(Rank::MODERATOR));
        assert_eq!("3".parse(), Ok(Rank::ADMIN));
        assert_eq!("siteadmin".parse(), Ok(Rank(255)));
        assert!("boss"
            .parse::<Rank>()
            .unwrap_err()
            .to_string()
            .contains("moderator"));
        assert!(Rank::GUEST < Rank::REGISTERED && Rank(2) == Rank::MODERATOR);
        assert_eq!(Rank::OWNER.to_string(), "owner");
        assert_eq!(Rank(7).to_string(), "7");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn ranks_are_written_by_name_and_read_by_name_or_number() {
        let yaml: Vec<Rank> = serde_yaml_ng::from_str("[guest, 2, admin]").expect("ranks");
        assert_eq!(yaml, [Rank::GUEST, Rank::MODERATOR, Rank::ADMIN]);
        assert_eq!(
            serde_json::to_string(&Rank::MODERATOR).expect("json"),
            "\"moderator\""
        );
    }
}
