//! How the playlist reads in chat: clock times, the item playing, what comes next.

use std::time::Duration;

use rosey_abi::PlaylistItem;

/// `3:07`, or `1:02:03` from an hour up.
pub fn clock(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

/// `Now playing: Title [1:23/3:45], queued by alice`: how far in (and how long, when known),
/// paused or not, and `queued_by` when there is one.
pub fn now_playing(
    item: &PlaylistItem,
    position: Duration,
    paused: bool,
    queued_by: Option<&str>,
) -> String {
    let mut at = clock(position);
    if !item.duration.is_zero() {
        at = format!("{at}/{}", clock(item.duration));
    }
    if paused {
        at.push_str(", paused");
    }
    let mut text = format!("Now playing: {} [{at}]", item.title);
    if let Some(who) = queued_by.filter(|who| !who.is_empty()) {
        text.push_str(&format!(", queued by {who}"));
    }
    text
}

/// `Up next: 1. A [3:00] | 2. B | … (+4 more)`: the first `show` of `upcoming`, numbered.
pub fn upcoming(upcoming: &[&PlaylistItem], show: usize) -> String {
    let listed: Vec<String> = (upcoming.iter().take(show).enumerate())
        .map(|(i, item)| match item.duration.is_zero() {
            true => format!("{}. {}", i + 1, item.title),
            false => format!("{}. {} [{}]", i + 1, item.title, clock(item.duration)),
        })
        .collect();
    let mut text = format!("Up next: {}", listed.join(" | "));
    let more = upcoming.len().saturating_sub(show);
    if more > 0 {
        text.push_str(&format!(" (+{more} more)"));
    }
    text
}

#[cfg(test)]
mod tests {
    use rosey_abi::testing::playlist_item;

    use super::*;

    fn secs(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn clock_times_read_like_a_player() {
        assert_eq!(clock(secs(0)), "0:00");
        assert_eq!(clock(secs(187)), "3:07");
        assert_eq!(clock(secs(3723)), "1:02:03");
        assert_eq!(clock(Duration::from_millis(59_999)), "0:59");
    }

    #[test]
    fn now_playing_shows_what_is_known() {
        let song = PlaylistItem {
            duration: secs(225),
            ..playlist_item(1, "Song")
        };
        assert_eq!(
            now_playing(&song, secs(83), false, Some("alice")),
            "Now playing: Song [1:23/3:45], queued by alice"
        );
        let live = playlist_item(2, "Live");
        assert_eq!(
            now_playing(&live, secs(5), true, Some("")),
            "Now playing: Live [0:05, paused]"
        );
    }

    #[test]
    fn upcoming_lists_the_first_few_and_counts_the_rest() {
        let a = PlaylistItem {
            duration: secs(180),
            ..playlist_item(1, "A")
        };
        let (b, c) = (playlist_item(2, "B"), playlist_item(3, "C"));
        assert_eq!(upcoming(&[&a, &b], 5), "Up next: 1. A [3:00] | 2. B");
        assert_eq!(
            upcoming(&[&a, &b, &c], 2),
            "Up next: 1. A [3:00] | 2. B (+1 more)"
        );
    }
}
