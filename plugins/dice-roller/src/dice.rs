//! Dice notation: parsing `NdM[kh|kl|dh|dl K][+|-K]`, rolling it, and showing the result.

use std::fmt;

/// The largest modifier accepted (`+K` / `-K`), so totals stay readable.
pub const MAX_MODIFIER: i64 = 1_000_000;

/// How many individual dice a reply lists before it summarises the rest.
const MAX_LISTED: usize = 20;

/// The limits an expression must keep, from the plugin's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most dice one roll may throw.
    pub max_dice: u32,
    /// The most sides one die may have.
    pub max_sides: u32,
}

/// Which dice count towards the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Every die.
    All,
    /// `khK`: the K highest.
    KeepHighest(u32),
    /// `klK`: the K lowest.
    KeepLowest(u32),
    /// `dhK`: all but the K highest.
    DropHighest(u32),
    /// `dlK`: all but the K lowest.
    DropLowest(u32),
}

/// A parsed dice expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expr {
    /// How many dice (N).
    pub count: u32,
    /// Sides per die (M).
    pub sides: u32,
    /// Which dice count.
    pub selection: Selection,
    /// Added to the total (K).
    pub modifier: i64,
}

/// Why an expression was refused. The text is meant for chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not dice notation at all.
    Syntax(String),
    /// More dice than `max_dice`.
    TooManyDice { count: u64, max: u32 },
    /// More sides than `max_sides`.
    TooManySides { sides: u64, max: u32 },
    /// A zero where at least one is needed.
    Zero(&'static str),
    /// Keeping or dropping more dice than were rolled.
    BadSelection { selected: u32, count: u32 },
    /// The modifier is out of range.
    ModifierTooLarge,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Syntax(text) => write!(f, "I can't read {text:?} as dice"),
            ParseError::TooManyDice { count, max } => {
                write!(f, "{count} dice is too many (at most {max})")
            }
            ParseError::TooManySides { sides, max } => {
                write!(f, "a die with {sides} sides is too big (at most {max})")
            }
            ParseError::Zero(what) => write!(f, "the number of {what} must be at least 1"),
            ParseError::BadSelection { selected, count } => write!(
                f,
                "can't keep or drop {selected} of {count} dice (at least one must count)"
            ),
            ParseError::ModifierTooLarge => {
                write!(
                    f,
                    "the modifier must be between -{MAX_MODIFIER} and +{MAX_MODIFIER}"
                )
            }
        }
    }
}

/// A small cursor over the (lowercased, space-free) expression.
struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    fn eat(&mut self, prefix: &str) -> bool {
        match self.rest.strip_prefix(prefix) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// A run of ASCII digits, saturating at `u64::MAX` (limits are checked afterwards).
    fn number(&mut self) -> Option<u64> {
        let len = self.rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        let (digits, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(digits.bytes().fold(0u64, |acc, digit| {
            acc.saturating_mul(10)
                .saturating_add(u64::from(digit - b'0'))
        }))
    }
}

impl Expr {
    /// Parses `text` (case and spaces are ignored) and checks it against `limits`.
    pub fn parse(text: &str, limits: Limits) -> Result<Expr, ParseError> {
        let normalized: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        let syntax = || ParseError::Syntax(text.trim().to_owned());
        let mut cursor = Cursor { rest: &normalized };

        let count = cursor.number().unwrap_or(1);
        if !cursor.eat("d") {
            return Err(syntax());
        }
        let sides = cursor.number().ok_or_else(syntax)?;

        // Longer spellings first: `k` alone means `kh`, `d` alone means `dl`.
        let make: Option<fn(u32) -> Selection> = if cursor.eat("kl") {
            Some(Selection::KeepLowest)
        } else if cursor.eat("kh") || cursor.eat("k") {
            Some(Selection::KeepHighest)
        } else if cursor.eat("dh") {
            Some(Selection::DropHighest)
        } else if cursor.eat("dl") || cursor.eat("d") {
            Some(Selection::DropLowest)
        } else {
            None
        };
        // `kh` alone means `kh1`.
        let selection = make.map(|make| {
            let selected = cursor.number().unwrap_or(1);
            make(u32::try_from(selected).unwrap_or(u32::MAX))
        });

        let modifier = if cursor.eat("+") {
            cursor.number().ok_or_else(syntax)?.min(u64::MAX / 2) as i64
        } else if cursor.eat("-") {
            -(cursor.number().ok_or_else(syntax)?.min(u64::MAX / 2) as i64)
        } else {
            0
        };
        if !cursor.rest.is_empty() {
            return Err(syntax());
        }

        if count == 0 {
            return Err(ParseError::Zero("dice"));
        }
        if sides == 0 {
            return Err(ParseError::Zero("sides"));
        }
        if count > u64::from(limits.max_dice) {
            return Err(ParseError::TooManyDice {
                count,
                max: limits.max_dice,
            });
        }
        if sides > u64::from(limits.max_sides) {
            return Err(ParseError::TooManySides {
                sides,
                max: limits.max_sides,
            });
        }
        if modifier.abs() > MAX_MODIFIER {
            return Err(ParseError::ModifierTooLarge);
        }
        // Both fit in u32 now: they are at most the u32 limits.
        let (count, sides) = (count as u32, sides as u32);

        let selection = selection.unwrap_or(Selection::All);
        let (selected, keeps_some) = match selection {
            Selection::All => (count, true),
            Selection::KeepHighest(k) | Selection::KeepLowest(k) => (k, k >= 1 && k <= count),
            Selection::DropHighest(k) | Selection::DropLowest(k) => (k, k < count),
        };
        if !keeps_some {
            return Err(ParseError::BadSelection { selected, count });
        }

        Ok(Expr {
            count,
            sides,
            selection,
            modifier,
        })
    }

    /// Rolls the dice with `rng`.
    pub fn roll(&self, rng: &mut fastrand::Rng) -> Outcome {
        let rolls: Vec<u32> = (0..self.count).map(|_| rng.u32(1..=self.sides)).collect();
        self.outcome(rolls)
    }

    /// Applies the selection and modifier to dice already rolled (in roll order).
    pub fn outcome(&self, rolls: Vec<u32>) -> Outcome {
        let n = rolls.len();
        // Indices from highest to lowest value; ties keep roll order.
        let mut by_value: Vec<usize> = (0..n).collect();
        by_value.sort_by(|&a, &b| rolls[b].cmp(&rolls[a]).then(a.cmp(&b)));
        let clamp = |k: u32| (k as usize).min(n);
        let kept_indices: &[usize] = match self.selection {
            Selection::All => &by_value,
            Selection::KeepHighest(k) => &by_value[..clamp(k)],
            Selection::KeepLowest(k) => &by_value[n - clamp(k)..],
            Selection::DropHighest(k) => &by_value[clamp(k)..],
            Selection::DropLowest(k) => &by_value[..n - clamp(k)],
        };
        let mut kept = vec![false; n];
        for &index in kept_indices {
            kept[index] = true;
        }
        let sum: i64 = rolls
            .iter()
            .zip(&kept)
            .filter(|(_, &kept)| kept)
            .map(|(&value, _)| i64::from(value))
            .sum();
        Outcome {
            rolls,
            kept,
            modifier: self.modifier,
            total: sum + self.modifier,
        }
    }
}

impl fmt::Display for Expr {
    /// The canonical spelling: `1d20`, `4d6kh3`, `3d6+2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}d{}", self.count, self.sides)?;
        match self.selection {
            Selection::All => {}
            Selection::KeepHighest(k) => write!(f, "kh{k}")?,
            Selection::KeepLowest(k) => write!(f, "kl{k}")?,
            Selection::DropHighest(k) => write!(f, "dh{k}")?,
            Selection::DropLowest(k) => write!(f, "dl{k}")?,
        }
        match self.modifier {
            0 => Ok(()),
            m if m > 0 => write!(f, "+{m}"),
            m => write!(f, "{m}"),
        }
    }
}

/// The result of one roll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Every die, in roll order.
    pub rolls: Vec<u32>,
    /// Whether each die counted.
    pub kept: Vec<bool>,
    /// The modifier added.
    pub modifier: i64,
    /// Kept dice plus the modifier.
    pub total: i64,
}

impl fmt::Display for Outcome {
    /// `[3, (1), 5] + 2 = 10`: dropped dice in parentheses, long lists shortened.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, (value, kept)) in self.rolls.iter().zip(&self.kept).enumerate() {
            if i == MAX_LISTED {
                write!(f, ", … {} more", self.rolls.len() - MAX_LISTED)?;
                break;
            }
            if i > 0 {
                f.write_str(", ")?;
            }
            if *kept {
                write!(f, "{value}")?;
            } else {
                write!(f, "({value})")?;
            }
        }
        f.write_str("]")?;
        match self.modifier {
            0 => {}
            m if m > 0 => write!(f, " + {m}")?,
            m => write!(f, " - {}", -m)?,
        }
        write!(f, " = {}", self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_dice: 100,
        max_sides: 1000,
    };

    fn parse(text: &str) -> Result<Expr, ParseError> {
        Expr::parse(text, LIMITS)
    }

    fn expr(count: u32, sides: u32, selection: Selection, modifier: i64) -> Expr {
        Expr {
            count,
            sides,
            selection,
            modifier,
        }
    }

    #[test]
    fn parses_the_documented_forms() {
        use Selection::*;
        assert_eq!(parse("2d6"), Ok(expr(2, 6, All, 0)));
        assert_eq!(parse("d20"), Ok(expr(1, 20, All, 0)));
        assert_eq!(parse("3d6+2"), Ok(expr(3, 6, All, 2)));
        assert_eq!(parse("1d8-1"), Ok(expr(1, 8, All, -1)));
        assert_eq!(parse("4d6kh3"), Ok(expr(4, 6, KeepHighest(3), 0)));
        assert_eq!(parse("4d6k3"), Ok(expr(4, 6, KeepHighest(3), 0)));
        assert_eq!(parse("4d6dl1"), Ok(expr(4, 6, DropLowest(1), 0)));
        assert_eq!(parse("2d20kl1"), Ok(expr(2, 20, KeepLowest(1), 0)));
        assert_eq!(parse("5d10dh2+3"), Ok(expr(5, 10, DropHighest(2), 3)));
        assert_eq!(parse(" 2D6 + 1 "), Ok(expr(2, 6, All, 1)));
        assert_eq!(parse("2d20kh"), Ok(expr(2, 20, KeepHighest(1), 0)));
    }

    #[test]
    fn refuses_what_is_not_dice() {
        for text in [
            "",
            "hello",
            "2d",
            "d",
            "2x6",
            "2d6+",
            "2d6kh3x",
            "2d6++1",
            "-2d6",
            "2d6 extra",
        ] {
            assert!(
                matches!(parse(text), Err(ParseError::Syntax(_))),
                "{text:?} gave {:?}",
                parse(text)
            );
        }
    }

    #[test]
    fn enforces_the_limits() {
        assert_eq!(
            parse("101d6"),
            Err(ParseError::TooManyDice {
                count: 101,
                max: 100
            })
        );
        assert_eq!(
            parse("1d1001"),
            Err(ParseError::TooManySides {
                sides: 1001,
                max: 1000
            })
        );
        assert!(matches!(
            parse("99999999999999999999999d6"),
            Err(ParseError::TooManyDice { .. })
        ));
        assert_eq!(parse("0d6"), Err(ParseError::Zero("dice")));
        assert_eq!(parse("2d0"), Err(ParseError::Zero("sides")));
        assert_eq!(parse("1d6+1000001"), Err(ParseError::ModifierTooLarge));
        assert_eq!(
            parse("4d6kh5"),
            Err(ParseError::BadSelection {
                selected: 5,
                count: 4
            })
        );
        assert!(matches!(
            parse("4d6dl4"),
            Err(ParseError::BadSelection { .. })
        ));
        assert!(matches!(
            parse("4d6kh0"),
            Err(ParseError::BadSelection { .. })
        ));
        let tight = Limits {
            max_dice: 3,
            max_sides: 6,
        };
        assert!(Expr::parse("3d6", tight).is_ok());
        assert!(Expr::parse("4d6", tight).is_err());
        assert!(Expr::parse("1d8", tight).is_err());
    }

    #[test]
    fn keeps_and_drops_the_right_dice() {
        let rolls = vec![3, 6, 1, 5];
        let total = |text: &str| parse(text).map(|e| e.outcome(rolls.clone()).total);
        assert_eq!(total("4d6"), Ok(15));
        assert_eq!(total("4d6kh3"), Ok(14));
        assert_eq!(total("4d6dl1"), Ok(14));
        assert_eq!(total("4d6kl1"), Ok(1));
        assert_eq!(total("4d6dh1"), Ok(9));
        assert_eq!(total("4d6kh2-4"), Ok(7));
        let outcome = parse("4d6kh3").map(|e| e.outcome(rolls.clone()));
        assert_eq!(outcome.map(|o| o.kept), Ok(vec![true, true, false, true]));
    }

    #[test]
    fn ties_drop_only_as_many_as_asked() {
        let outcome = parse("3d6dl1").map(|e| e.outcome(vec![2, 2, 2]));
        assert_eq!(
            outcome.map(|o| (o.kept, o.total)),
            Ok((vec![true, true, false], 4))
        );
    }

    #[test]
    fn rolls_stay_within_the_dice() {
        let mut rng = fastrand::Rng::with_seed(7);
        let expr = expr(100, 6, Selection::All, 0);
        for _ in 0..20 {
            let outcome = expr.roll(&mut rng);
            assert_eq!(outcome.rolls.len(), 100);
            assert!(outcome.rolls.iter().all(|v| (1..=6).contains(v)));
            assert!((100..=600).contains(&outcome.total));
        }
    }

    #[test]
    fn displays_canonically() {
        let text = |t: &str| parse(t).map(|e| e.to_string());
        assert_eq!(text("d20").as_deref(), Ok("1d20"));
        assert_eq!(text("4D6K3").as_deref(), Ok("4d6kh3"));
        assert_eq!(text("1d8-1").as_deref(), Ok("1d8-1"));
        assert_eq!(text("3d6+2").as_deref(), Ok("3d6+2"));
        let shown = |t: &str, rolls: Vec<u32>| parse(t).map(|e| e.outcome(rolls).to_string());
        assert_eq!(shown("2d6", vec![3, 5]).as_deref(), Ok("[3, 5] = 8"));
        assert_eq!(
            shown("4d6dl1", vec![3, 6, 1, 5]).as_deref(),
            Ok("[3, 6, (1), 5] = 14")
        );
        assert_eq!(shown("1d8-1", vec![4]).as_deref(), Ok("[4] - 1 = 3"));
        assert_eq!(
            shown("3d6+2", vec![1, 2, 3]).as_deref(),
            Ok("[1, 2, 3] + 2 = 8")
        );
        let long = shown("25d6", vec![1; 25]).unwrap_or_default();
        assert!(long.ends_with(", … 5 more] = 25"), "{long}");
    }
}
