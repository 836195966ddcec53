//! The bot's own `!help`, from what the manifests say of each command: `!help` lists the
//! commands the asker may use, `!help roll` says what `!roll` does and how to call it. No
//! plugin is involved (a plugin that claims `help` itself takes the word over).

use super::{unknown_command_text, RouteTable};
use crate::rank::Rank;

/// The answer to `!help <asked>` (`asked` empty for the list), for a user of `rank`.
pub fn text(routes: &RouteTable, prefix: &str, rank: Option<Rank>, asked: &str) -> String {
    let asked = asked
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_start_matches(prefix)
        .to_lowercase();
    if asked.is_empty() {
        let usable: Vec<&str> = routes
            .enabled_specs()
            .filter(|spec| spec.allows(rank))
            .map(|spec| spec.name.as_str())
            .collect();
        let Some(first) = usable.first() else {
            return "No commands are available to you.".to_owned();
        };
        let list: Vec<String> = usable
            .iter()
            .map(|word| format!("{prefix}{word}"))
            .collect();
        return format!(
            "Commands: {}. Try {prefix}help {first} for more about one.",
            list.join(", ")
        );
    }
    let Some(spec) = routes.enabled_specs().find(|spec| spec.name == asked) else {
        return unknown_command_text(prefix, &asked, &routes.commands());
    };
    let mut text = format!("{prefix}{}", spec.name);
    match &spec.help {
        Some(help) => text.push_str(&format!(": {help}")),
        None => text.push_str(": no help given by its plugin"),
    }
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    if let Some(usage) = &spec.usage {
        text.push_str(&format!(" Usage: {usage}"));
    }
    if let Some(least) = spec.min_rank.filter(|_| !spec.allows(rank)) {
        text.push_str(&format!(" (needs rank {least} or higher)"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::CommandSpec;

    fn routes() -> RouteTable {
        let mut routes = RouteTable::new();
        routes.insert_spec(
            CommandSpec {
                name: "roll".into(),
                help: Some("Roll dice".into()),
                usage: Some("!roll 2d6+1".into()),
                min_rank: None,
            },
            "dice-roller",
        );
        routes.insert_spec(
            CommandSpec {
                name: "trivia".into(),
                help: Some("Trivia rounds!".into()),
                usage: None,
                min_rank: Some(Rank::MODERATOR),
            },
            "trivia",
        );
        routes.insert("quote", "quotes");
        routes.disable("quotes");
        routes
    }

    #[test]
    fn help_lists_what_the_asker_may_use_and_explains_one_command() {
        let routes = routes();
        assert_eq!(
            text(&routes, "!", Some(Rank::REGISTERED), ""),
            "Commands: !roll. Try !help roll for more about one."
        );
        assert_eq!(
            text(&routes, "!", Some(Rank::ADMIN), "  "),
            "Commands: !roll, !trivia. Try !help roll for more about one."
        );
        assert_eq!(
            text(&routes, "!", None, "!ROLL"),
            "!roll: Roll dice. Usage: !roll 2d6+1"
        );
        assert_eq!(
            text(&routes, "!", None, "trivia"),
            "!trivia: Trivia rounds! (needs rank moderator or higher)"
        );
        assert!(text(&routes, "!", None, "quote").starts_with("Unknown command !quote."));
        assert!(text(&RouteTable::new(), "!", None, "").contains("No commands"));
    }
}
