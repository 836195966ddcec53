//! The questions, and how a chat line is compared with an answer.
//!
//! The built-in list is `src/questions.txt`, compiled in: one question a line, then its
//! answers, separated by ` | `; the first answer is the one the bot says.

/// The built-in questions, as written in `src/questions.txt`.
pub const BUILT_IN: &str = include_str!("questions.txt");

/// A question and the answers that count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// What is asked.
    pub text: String,
    /// The answers that count, the one to say first; never empty.
    pub answers: Vec<String>,
}

impl Question {
    /// The answer the bot says.
    pub fn answer(&self) -> &str {
        self.answers.first().map_or("", String::as_str)
    }

    /// Whether the chat line `guess` is one of the answers (ignoring case, punctuation and
    /// extra spaces).
    pub fn accepts(&self, guess: &str) -> bool {
        let guess = normalize(guess);
        !guess.is_empty() && self.answers.iter().any(|answer| normalize(answer) == guess)
    }
}

/// Reads questions written as in `src/questions.txt`; `Err` names the first bad line.
pub fn parse(text: &str) -> Result<Vec<Question>, String> {
    let mut questions = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split('|').map(str::trim);
        let text = parts.next().unwrap_or_default().to_owned();
        let answers: Vec<String> = parts
            .filter(|answer| !normalize(answer).is_empty())
            .map(str::to_owned)
            .collect();
        if text.is_empty() || answers.is_empty() {
            return Err(format!(
                "line {}: expected `question | answer`, got {line:?}",
                number + 1
            ));
        }
        questions.push(Question { text, answers });
    }
    Ok(questions)
}

/// `text` lowercased, without punctuation, its words separated by single spaces: what is
/// compared when someone answers.
pub fn normalize(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_list_reads_and_is_plain_text() {
        let questions = parse(BUILT_IN).expect("the built-in questions parse");
        assert!(questions.len() >= 20, "{} questions", questions.len());
        let mut texts: Vec<&str> = questions.iter().map(|q| q.text.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), questions.len(), "no question twice");
        for question in &questions {
            // Plain text: no character a chat would escape or turn into markup, so a question
            // reads the same everywhere (and tests can find it in a chat log).
            let all = std::iter::once(&question.text).chain(&question.answers);
            for text in all {
                assert!(
                    !text.contains(['&', '<', '>', '"', '\'', '*', '_', '`', '~']),
                    "{text:?}"
                );
            }
            assert!(question.accepts(question.answer()), "{question:?}");
        }
    }

    #[test]
    fn answers_match_ignoring_case_punctuation_and_spaces() {
        let question = Question {
            text: "Largest ocean?".to_owned(),
            answers: vec!["Pacific".to_owned(), "the Pacific Ocean".to_owned()],
        };
        assert!(question.accepts("pacific"));
        assert!(question.accepts("  PACIFIC!! "));
        assert!(question.accepts("The   pacific ocean."));
        assert!(!question.accepts("the pacific"));
        assert!(!question.accepts("atlantic"));
        assert!(!question.accepts("?!"));
        assert_eq!(question.answer(), "Pacific");
        assert_eq!(normalize("Rock 'n' Roll, baby"), "rock n roll baby");
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = parse("# fine\nWhat? | yes\nno answer here\n").unwrap_err();
        assert!(err.starts_with("line 3:"), "{err}");
        assert!(parse("What? | !!").is_err());
        let parsed = parse("Two plus two? | 4 | four").expect("parses");
        assert_eq!(parsed[0].answers, ["4", "four"]);
    }
}
