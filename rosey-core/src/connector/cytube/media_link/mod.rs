//! Pasted links → the `{id, type}` pair of CyTube's `queue` frame.
//!
//! CyTube's server never parses URLs: its web client turns whatever the user pasted into an id
//! and a two-letter media type (`yt`, `vi`, `fi`, …) with `parseMediaLink` (www/js/util.js) and
//! sends those in `queue`. A bot that wants to queue a link must therefore do what the web client
//! does, or the server looks up the wrong thing. [`parse`] reproduces `parseMediaLink` check for
//! check (docs/CYTUBE.md §3), including the fall-throughs of its `switch`, plus the queue UI's
//! refusals of some raw-file (`fi`) links (www/js/ui.js), so a bot behaves like the web client.
//!
//! Where the JavaScript would throw a `TypeError` or yield a `null` id, [`parse`] returns an
//! error naming the problem instead. Indexing follows JavaScript's `slice` (UTF-16 units); the
//! paths it applies to are percent-encoded ASCII anyway.

use url::Url;

#[cfg(test)]
mod tests;

/// A link as CyTube's queue frame names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLink {
    /// The two-letter media type (`type` in the frame), e.g. `"yt"`.
    pub kind: String,
    /// The media id (`id` in the frame): a video id, a `;`-joined pair, or a whole URL.
    pub id: String,
}

/// The web client's message for a link it cannot place.
const INDETERMINABLE: &str = "Could not determine video type. \
     Check https://git.io/fjtOK for a list of supported media providers.";
/// `checkYP`'s message.
const INVALID_PLAYLIST: &str = "Invalid YouTube Playlist ID.  \
     Note that only regular user-created playlists are supported.";
/// The message for a livestream.com link without `/accounts/`.
const LIVESTREAM: &str = "This format of Livestream.com link is not supported. \
     You must use one that has the numeric account ID.";
/// The queue UI's refusal of plain-http raw files.
const PLAIN_HTTP: &str = "Raw files must begin with 'https'.  Plain http is not supported.";
/// The queue UI's refusal of kissanime and friends.
const KISS: &str = "Kisscartoon and Kissanime are not supported.  See https://git.io/vxS9n \
     for more information about why these cannot be supported.";
/// The queue UI's refusal of mega.nz.
const MEGA: &str = "Mega.nz is not supported.  See https://git.io/fx6fz \
     for more information about why mega.nz cannot be supported.";

/// Why a link cannot be queued: the refusal CyTube's web client would show, so a bot can tell
/// its user what CyTube itself would and an embedder can still tell the cases apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaLinkError {
    /// Not even a URL (the web client cannot place it either).
    #[error("{}", INDETERMINABLE)]
    NotALink(#[source] url::ParseError),
    /// A URL, but of no provider CyTube knows.
    #[error("{}", INDETERMINABLE)]
    UnknownProvider,
    /// A `youtube.com/watch` link without `v=`.
    #[error("This YouTube link has no video id (no v= parameter).")]
    NoYoutubeVideo,
    /// A playlist id that is not a regular user-created playlist (`checkYP`).
    #[error("{}", INVALID_PLAYLIST)]
    InvalidPlaylist,
    /// A livestream.com link without the numeric `/accounts/` form.
    #[error("{}", LIVESTREAM)]
    LivestreamWithoutAccount,
    /// A livestream.com `/accounts/` link without a numeric event.
    #[error(
        "This Livestream.com link has no numeric event: use one of the form \
         https://livestream.com/accounts/<account id>/events/<event id>."
    )]
    LivestreamWithoutEvent,
    /// A `drive.google.com/open` link without `id=`.
    #[error("This Google Drive link has no file id (no id= parameter).")]
    NoDriveFile,
    /// A short link (`yt:`) with nothing usable after the colon.
    #[error("The short link \"{kind}:\" has no id after the colon (e.g. \"yt:dQw4w9WgXcQ\").")]
    NoShortId {
        /// The two letters before the colon.
        kind: String,
    },
    /// A raw file over plain `http:` (the queue UI's refusal).
    #[error("{}", PLAIN_HTTP)]
    PlainHttpFile,
    /// A raw file on kissanime, kimcartoon or kisscartoon (the queue UI's refusal).
    #[error("{}", KISS)]
    KissSite,
    /// A raw file on mega.nz (the queue UI's refusal).
    #[error("{}", MEGA)]
    MegaNz,
}

/// Parses `link` like CyTube's web client; `Err` shows as the message the web client would show
/// (one line, naming the problem), e.g. "Could not determine video type. Check
/// <https://git.io/fjtOK> for a list of supported media providers."
///
/// Raw files (`fi`) also pass the queue UI's checks: links starting `http:` and links to
/// kissanime, kimcartoon, kisscartoon or mega.nz are refused with the UI's messages.
pub fn parse(link: &str) -> Result<MediaLink, MediaLinkError> {
    let media = parse_media_link(link)?;
    if media.kind == "fi" {
        // ui.js `queue`: /^http:/, /kissanime|kimcartoon|kisscartoon/i, /mega\.nz/ on the id.
        let lower = media.id.to_ascii_lowercase();
        if media.id.starts_with("http:") {
            return Err(MediaLinkError::PlainHttpFile);
        }
        if ["kissanime", "kimcartoon", "kisscartoon"]
            .iter()
            .any(|name| lower.contains(name))
        {
            return Err(MediaLinkError::KissSite);
        }
        if media.id.contains("mega.nz") {
            return Err(MediaLinkError::MegaNz);
        }
    }
    Ok(media)
}

/// A successful parse.
fn found(kind: &str, id: impl Into<String>) -> Result<MediaLink, MediaLinkError> {
    Ok(MediaLink {
        kind: kind.to_owned(),
        id: id.into(),
    })
}

/// `parseMediaLink` itself, without the queue UI's checks.
fn parse_media_link(link: &str) -> Result<MediaLink, MediaLinkError> {
    // Shorthand `xx:id` (/^[a-z]{2}:/).
    let b = link.as_bytes();
    if b.len() >= 3 && b[0].is_ascii_lowercase() && b[1].is_ascii_lowercase() && b[2] == b':' {
        return parse_short(&link[..2], &link[3..]);
    }

    let url = Url::parse(link).map_err(MediaLinkError::NotALink)?;
    let path = url.path();
    if url.scheme() == "rtmp" {
        return found("rt", link);
    }
    if path.ends_with(".m3u8") {
        return found("hl", link);
    }
    if path.ends_with(".json") {
        return found("cm", link);
    }

    let hostname = url.host_str().unwrap_or_default();
    // `hostname.replace('www.', '')`: the first `www.` anywhere, not only a leading one.
    let host = hostname.replacen("www.", "", 1);
    match host.as_str() {
        "youtube.com" => {
            if path == "/watch" {
                return match query(&url, "v") {
                    Some(v) => found("yt", v),
                    None => Err(MediaLinkError::NoYoutubeVideo),
                };
            }
            if path.starts_with("/shorts/") {
                return found("yt", js_slice(path, 8, Some(19)));
            }
            if path == "/playlist" {
                let list = query(&url, "list").unwrap_or_default();
                check_yp(&list)?;
                return found("yp", list);
            }
            // Falls through to youtu.be.
            return found("yt", js_slice(path, 1, None));
        }
        "youtu.be" => return found("yt", js_slice(path, 1, None)),
        "twitch.tv" => {
            if path.contains("/clip/") {
                return found("tc", last_segment(path));
            }
            if path.starts_with("/videos/") {
                return found("tv", format!("v{}", last_segment(path)));
            }
            return found("tw", js_slice(path, 1, None));
        }
        "clips.twitch.tv" => return found("tc", js_slice(path, 1, None)),
        "livestream.com" => {
            if !path.starts_with("/accounts/") {
                return Err(MediaLinkError::LivestreamWithoutAccount);
            }
            // Both groups are non-empty when the pattern matches, so the JS never falls
            // through to vimeo.com here; no match is its TypeError.
            return match livestream_ids(path) {
                Some((account, event)) => found("li", format!("{account};{event}")),
                None => Err(MediaLinkError::LivestreamWithoutEvent),
            };
        }
        "vimeo.com" => return found("vi", js_slice(path, 1, None)),
        "dailymotion.com" => return found("dm", js_slice(path, 7, None)),
        "soundcloud.com" => return found("sc", link),
        "streamable.com" => return found("sb", js_slice(path, 1, None)),
        _ => {}
    }

    // The chain google → bitchute → nicovideo → odysee falls through where a case misses.
    let stage = match host.as_str() {
        "docs.google.com" | "drive.google.com" => Some(0),
        "bitchute.com" => Some(1),
        "nicovideo.jp" => Some(2),
        "odysee.com" => Some(3),
        _ => None,
    };
    if let Some(stage) = stage {
        if stage <= 0 {
            if path.starts_with("/file/") {
                return found("gd", first_segment(&js_slice(path, 8, None)));
            }
            if path == "/open" {
                return match query(&url, "id") {
                    Some(id) => found("gd", id),
                    None => Err(MediaLinkError::NoDriveFile),
                };
            }
        }
        if stage <= 1 && path.starts_with("/video/") {
            return found("bc", first_segment(&js_slice(path, 7, None)));
        }
        if stage <= 2 && path.starts_with("/watch/") {
            return found("nv", first_segment(&js_slice(path, 7, None)));
        }
        if let Some((user, video)) = odysee(path) {
            return found("od", format!("{user};{video}"));
        }
    }

    if hostname.ends_with(".bandcamp.com") {
        if let Some(track) = path.strip_prefix("/track/") {
            // `hostname.replace('.bandcamp.com', '')` removes the first occurrence.
            let artist = hostname.replacen(".bandcamp.com", "", 1);
            return found("bn", format!("{artist};{track}"));
        }
    }

    if let Some(video) = peertube(path) {
        return found("pt", format!("{hostname};{video}"));
    }

    // `data.protocol.match(/^http/)`: any scheme starting "http" is a raw file.
    if url.scheme().starts_with("http") {
        return found("fi", link);
    }
    Err(MediaLinkError::UnknownProvider)
}

/// `parseShortCode`: `kind` is the two letters, `raw` what follows the colon.
fn parse_short(kind: &str, raw: &str) -> Result<MediaLink, MediaLinkError> {
    let id = match kind {
        // `raw.match(/([^\?&#_]+)/)[1]`: DailyMotion ids lose their `_slug`.
        "dm" => first_run(raw, &['?', '&', '#', '_']),
        // Raw files keep the query string.
        "fi" | "cm" => Some(raw),
        "yp" => {
            check_yp(raw)?;
            Some(raw)
        }
        _ => first_run(raw, &['?', '&', '#']),
    };
    match id {
        Some(id) => found(kind, id),
        None => Err(MediaLinkError::NoShortId {
            kind: kind.to_owned(),
        }),
    }
}

/// `checkYP`: /^(PL[a-zA-Z0-9_-]{32}|PL[A-F0-9]{16}|OLA[a-zA-Z0-9_-]{38})$/.
fn check_yp(id: &str) -> Result<(), MediaLinkError> {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let upper_hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
    let ok = if let Some(rest) = id.strip_prefix("PL") {
        (rest.len() == 32 && rest.bytes().all(word))
            || (rest.len() == 16 && rest.bytes().all(upper_hex))
    } else if let Some(rest) = id.strip_prefix("OLA") {
        rest.len() == 38 && rest.bytes().all(word)
    } else {
        false
    };
    if ok {
        Ok(())
    } else {
        Err(MediaLinkError::InvalidPlaylist)
    }
}

/// `URLSearchParams.get`: the first value of `name`, decoded; `None` when absent.
fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// JavaScript's `s.slice(start, end)` for non-negative indices, in UTF-16 units.
fn js_slice(s: &str, start: usize, end: Option<usize>) -> String {
    let units: Vec<u16> = s.encode_utf16().collect();
    let end = end.unwrap_or(units.len()).min(units.len());
    let start = start.min(end);
    String::from_utf16_lossy(&units[start..end])
}

/// `s.split('/').shift()`.
fn first_segment(s: &str) -> &str {
    s.split('/').next().unwrap_or_default()
}

/// `s.split('/').pop()`.
fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or_default()
}

/// The first non-empty run of characters outside `stop` (`/([^…]+)/` unanchored).
fn first_run<'a>(s: &'a str, stop: &[char]) -> Option<&'a str> {
    let start = s.find(|c: char| !stop.contains(&c))?;
    let rest = &s[start..];
    Some(&rest[..rest.find(stop).unwrap_or(rest.len())])
}

/// The byte index where a run of bytes matching `keep` starting at `from` ends.
fn run_end(b: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    from + b[from.min(b.len())..]
        .iter()
        .take_while(|&&c| keep(c))
        .count()
}

/// /\/accounts\/(?<account>[0-9]+)\/events\/(?<event>[0-9]+)/, leftmost match.
fn livestream_ids(path: &str) -> Option<(&str, &str)> {
    let b = path.as_bytes();
    (0..b.len()).find_map(|i| {
        if !b[i..].starts_with(b"/accounts/") {
            return None;
        }
        let account = i + "/accounts/".len();
        let account_end = run_end(b, account, |c| c.is_ascii_digit());
        if account_end == account || !b[account_end..].starts_with(b"/events/") {
            return None;
        }
        let event = account_end + "/events/".len();
        let event_end = run_end(b, event, |c| c.is_ascii_digit());
        (event_end > event).then(|| (&path[account..account_end], &path[event..event_end]))
    })
}

/// /\/@(?<user>[^:]+)(?::\w)?\/(?<video>[^:]+)/ with the regex's backtracking order: leftmost
/// start, longest user, the optional `:x` tried before skipping it.
fn odysee(path: &str) -> Option<(&str, &str)> {
    let b = path.as_bytes();
    let video_at = |from: usize| {
        let end = run_end(b, from, |c| c != b':');
        (end > from).then(|| &path[from..end])
    };
    (0..b.len()).find_map(|start| {
        if !b[start..].starts_with(b"/@") {
            return None;
        }
        let user = start + 2;
        let longest = run_end(b, user, |c| c != b':');
        (user + 1..=longest).rev().find_map(|k| {
            let with_suffix = (b.get(k) == Some(&b':')
                && b.get(k + 1)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
                && b.get(k + 2) == Some(&b'/'))
            .then(|| video_at(k + 3))
            .flatten();
            let plain = || (b.get(k) == Some(&b'/')).then(|| video_at(k + 1)).flatten();
            with_suffix
                .or_else(plain)
                .map(|video| (&path[user..k], video))
        })
    })
}

/// PeerTube: the path starts `/w/` or `/videos/watch/`, and somewhere in it one of those is
/// followed by a 22-character short id or a lowercase UUID (short tried first).
fn peertube(path: &str) -> Option<&str> {
    if !path.starts_with("/w/") && !path.starts_with("/videos/watch/") {
        return None;
    }
    let b = path.as_bytes();
    (0..b.len()).find_map(|i| {
        let after = if b[i..].starts_with(b"/w/") {
            i + 3
        } else if b[i..].starts_with(b"/videos/watch/") {
            i + "/videos/watch/".len()
        } else {
            return None;
        };
        let tail = &b[after..];
        if tail.len() >= 22 && tail[..22].iter().all(u8::is_ascii_alphanumeric) {
            return Some(&path[after..after + 22]);
        }
        is_uuid(tail).then(|| &path[after..after + 36])
    })
}

/// Whether `b` starts with `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`.
fn is_uuid(b: &[u8]) -> bool {
    b.len() >= 36
        && b[..36].iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}
