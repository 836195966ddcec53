//! → `queue` in CyTube's order (src/channel/playlist.js `handleQueue`, `queueStandard`,
//! `queueYouTubePlaylist`, `_addItem`), with the media lookup emulated: no network, every
//! type of CyTube's getter list accepted with a made-up title (`Media <id>`) and 60 s (live
//! types `li tw rt hl cu`: 0 s), unless the test set them ([`super::CytubeServer::set_media_info`])
//! or made the lookup fail ([`super::CytubeServer::reject_media`]). The getters' own id checks
//! and fixed refusals (`sc`, plain-http `hl`/`fi`, …) are kept.

use serde_json::{json, Value};

use super::{
    checks::{sanitize_text, typechecked},
    playback,
    playlist::{format_time, Item, Media, MAX_ITEMS},
    state::{broadcast, broadcast_each, State, Who},
};

/// Types CyTube's `util.isLive` calls live.
const LIVE: &[&str] = &["li", "tw", "rt", "cu", "hl"];

/// What a `queue` request became after `handleQueue`'s checks.
struct Request {
    /// The id as sent (echoed in `queueFail`).
    id: String,
    next: bool,
    title: Option<String>,
    link: String,
    temp: bool,
    queueby: String,
    duration: Option<f64>,
    maxlength: f64,
}

/// → `queue {id, type, pos, temp?, title?, duration?}` from `who`.
pub(crate) fn on_queue(state: &mut State, channel: &str, who: &Who, data: &Value) {
    let template = [
        ("id", "string,boolean"),
        ("type", "string"),
        ("pos", "string"),
        ("title", "string,boolean,optional"),
        ("duration", "number,optional"),
        ("temp", "boolean,optional"),
    ];
    if !typechecked(state, who, "queue", data, &template) {
        return;
    }
    let Some(member) = state.member(channel, who) else {
        return;
    };
    // `id: true` is SILENT in CyTube; `false` would crash its lookup: SILENT here too.
    let (Some(id), Some(kind)) = (data["id"].as_str(), data["type"].as_str()) else {
        return;
    };
    let next = match data["pos"].as_str() {
        Some("next") => true,
        Some("end") => false,
        _ => return,
    };
    let title = data["title"]
        .as_str()
        .filter(|_| kind == "cu" || kind == "fi")
        .map(str::to_owned);
    let link = format_link(id, kind);
    let room = state.room(channel);
    let can = |key: &str| room.can(member.rank, key);
    if !can("playlistadd") || (next && !can("playlistnext")) {
        return;
    }
    let refusal = if kind == "yp" && !can("playlistaddlist") {
        Some("You don't have permission to add playlists")
    } else if LIVE.contains(&kind) && !can("playlistaddlive") {
        Some("You don't have permission to add live media")
    } else if kind == "cu" && !can("playlistaddcustom") {
        Some("You don't have permission to add custom embeds")
    } else if (kind == "fi" || kind == "cm") && !can("playlistaddrawfile") {
        Some("You don't have permission to add raw video files")
    } else {
        None
    };
    let temp = data["temp"].as_bool().unwrap_or(false) || !can("addnontemp");
    let maxlength = if can("exceedmaxlength") {
        0.0
    } else {
        room.opt_f64("maxlength")
    };
    let fail = |state: &mut State, msg: &str, link: &str| {
        state.reply(
            who,
            "queueFail",
            &json!({"msg": msg, "link": link, "id": id}),
        );
    };
    if let Some(msg) = refusal {
        return fail(state, msg, &link);
    }
    let duration = data["duration"].as_f64().filter(|_| LIVE.contains(&kind));
    let (burst, sustained) = if member.rank >= 2.0 {
        (state.limits.mod_queue_burst, state.limits.mod_queue_per_sec)
    } else {
        (state.limits.queue_burst, state.limits.queue_per_sec)
    };
    let throttled = match who {
        Who::Socket(id) => state
            .sockets
            .get_mut(id)
            .is_some_and(|s| s.queue.throttle(burst, sustained)),
        Who::Virtual(name) => state
            .room(channel)
            .virtual_users
            .get_mut(name)
            .is_some_and(|u| u.queue.throttle(burst, sustained)),
    };
    if throttled {
        return fail(state, "You are adding videos too quickly", &link);
    }
    let request = Request {
        id: id.to_owned(),
        next,
        title,
        link,
        temp,
        queueby: member.name.clone(),
        duration,
        maxlength,
    };
    if kind == "yp" {
        // A playlist is emulated as three videos `<id>-1` … `<id>-3`.
        if let Some(message) = state.rejects.get(&("yp".to_owned(), id.to_owned())) {
            let message = message.clone();
            return fail(state, &message, &request.link);
        }
        let mut videos: Vec<Media> = (1..=3)
            .filter_map(|n| lookup(state, "yt", &format!("{id}-{n}")).ok())
            .collect();
        if next {
            videos.reverse();
            if state.room(channel).playlist.items.is_empty() {
                if let Some(first) = videos.pop() {
                    videos.insert(0, first);
                }
            }
        }
        for media in videos {
            let request = Request {
                link: format_link(&media.id, "yt"),
                ..request.clone_shallow()
            };
            add_item(state, channel, who, media, &request);
        }
        return;
    }
    if state.stalls.contains(&(kind.to_owned(), id.to_owned())) {
        return;
    }
    match lookup(state, kind, id) {
        Ok(media) => add_item(state, channel, who, media, &request),
        Err(message) => fail(state, &sanitize_text(&message), &request.link),
    }
}

impl Request {
    fn clone_shallow(&self) -> Request {
        Request {
            id: self.id.clone(),
            next: self.next,
            title: self.title.clone(),
            link: self.link.clone(),
            temp: self.temp,
            queueby: self.queueby.clone(),
            duration: self.duration,
            maxlength: self.maxlength,
        }
    }
}

/// The emulated `InfoGetter.getMedia`.
fn lookup(state: &State, kind: &str, id: &str) -> Result<Media, String> {
    if let Some(message) = state.rejects.get(&(kind.to_owned(), id.to_owned())) {
        return Err(message.clone());
    }
    let word = |text: &str| -> Option<String> {
        let start = text.find(|c: char| c.is_alphanumeric() || c == '_' || c == '-')?;
        let rest = &text[start..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    };
    let all = |text: &str, ok: fn(char) -> bool| !text.is_empty() && text.chars().all(ok);
    let id = match kind {
        "sc" => {
            return Err(
                "Soundcloud is not supported anymore due to requiring OAuth but not \
                        accepting new API key registrations."
                    .to_owned(),
            )
        }
        "li" => {
            let ok = id.split_once(';').is_some_and(|(a, b)| {
                all(a, |c| c.is_ascii_digit()) && all(b, |c| c.is_ascii_digit())
            });
            if !ok {
                return Err("Invalid ID".to_owned());
            }
            id.to_owned()
        }
        "vi" | "dm" | "tw" => word(id).ok_or("Invalid ID")?,
        "tv" => {
            let found = id.char_indices().find_map(|(i, c)| {
                let digits: String = id[i + 1..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                ((c == 'c' || c == 'v') && !digits.is_empty()).then(|| format!("{c}{digits}"))
            });
            found.ok_or("Invalid Twitch VOD ID")?
        }
        "tc" if !all(id, |c| c.is_ascii_alphabetic()) => {
            return Err("Invalid Twitch VOD ID".to_owned())
        }
        "hl" if !id.starts_with("https") => {
            return Err(
                "HLS links must start with HTTPS due to browser security policy.  \
                        See https://git.io/vpDLK for details."
                    .to_owned(),
            )
        }
        "gd" if !all(id, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => {
            return Err(format!("Invalid ID: {id}"))
        }
        "sb" if !all(id, |c| c.is_alphanumeric() || c == '_' || c == '-') => {
            return Err("Invalid streamable.com ID".to_owned())
        }
        "fi" if !id.starts_with("https://") => {
            return Err(
                "Raw file playback is only supported for links accessible via HTTPS. \
                        Ensure that the link begins with 'https://'."
                    .to_owned(),
            )
        }
        "yt" | "yp" | "tc" | "rt" | "hl" | "cu" | "gd" | "fi" | "sb" | "pt" | "cm" | "bc"
        | "od" | "bn" | "nv" => id.to_owned(),
        _ => return Err(format!("Unknown media type '{kind}'")),
    };
    let live = LIVE.contains(&kind);
    let (title, seconds) = state
        .media
        .get(&(kind.to_owned(), id.clone()))
        .cloned()
        .unwrap_or_else(|| (format!("Media {id}"), if live { 0 } else { 60 }));
    let duration = if seconds == 0 && live {
        "--:--".to_owned()
    } else {
        format_time(seconds)
    };
    Ok(Media {
        title: cut_title(&title),
        id,
        seconds,
        duration,
        kind: kind.to_owned(),
    })
}

/// Titles over 100 characters are cut to 97 and `...`.
fn cut_title(title: &str) -> String {
    if title.chars().count() > 100 {
        format!("{}...", title.chars().take(97).collect::<String>())
    } else {
        title.to_owned()
    }
}

/// CyTube's `_addItem`: the per-item checks, then the item is added and announced.
fn add_item(state: &mut State, channel: &str, who: &Who, mut media: Media, request: &Request) {
    let fail = |state: &mut State, msg: &str| {
        let data = json!({"msg": msg, "link": request.link, "id": request.id});
        state.reply(who, "queueFail", &data);
    };
    let Some(member) = state.member(channel, who) else {
        return;
    };
    let room = state.room(channel);
    let can = |key: &str| room.can(member.rank, key);
    let (live_ok, items_ok, time_ok) = (
        can("playlistaddlive"),
        can("exceedmaxitems"),
        can("exceedmaxdurationperuser"),
    );
    let dupes = room.opt_bool("allow_dupes");
    let max_items = room.opt_f64("playlist_max_per_user");
    let max_time = room.opt_f64("playlist_max_duration_per_user");
    let playlist = &room.playlist;
    let (count, current) = (playlist.items.len(), playlist.current);
    let existing = playlist
        .items
        .iter()
        .find(|item| item.media.id == media.id)
        .map(|item| (item.uid, item.temp));
    let lower = member.name.to_lowercase();
    let mine: Vec<u64> = playlist
        .items
        .iter()
        .filter(|item| item.queueby.to_lowercase() == lower)
        .map(|item| item.media.seconds)
        .collect();
    if let Some(duration) = request.duration.filter(|d| *d != 0.0) {
        media.seconds = duration.max(0.0) as u64;
        media.duration = format_time(media.seconds);
    } else if media.seconds == 0 && !live_ok {
        return fail(state, "You don't have permission to add livestreams");
    }
    if request.maxlength > 0.0 && media.seconds as f64 > request.maxlength {
        let msg = format!(
            "Video exceeds the maximum length set by the channel admin: {} seconds",
            super::state::num_text(request.maxlength)
        );
        return fail(state, &msg);
    }
    if count >= MAX_ITEMS {
        return fail(state, &format!("Playlist limit reached ({MAX_ITEMS})"));
    }
    if let Some((uid, _)) = existing {
        if !dupes && (!request.next || current == Some(uid)) {
            return fail(state, "This item is already on the playlist");
        }
    }
    if max_items > 0.0 && mine.len() as f64 >= max_items && !items_ok {
        return fail(
            state,
            "Channel limit exceeded: maximum number of videos per user",
        );
    }
    let total: u64 = mine.iter().sum::<u64>() + media.seconds;
    if max_time > 0.0 && total as f64 >= max_time && !time_ok {
        return fail(
            state,
            "Channel limit exceeded: maximum total playlist time per user",
        );
    }
    if let Some(title) = &request.title {
        media.title = cut_title(title);
    }
    let playlist = &mut state.room(channel).playlist;
    let mut item = Item {
        uid: playlist.next_uid,
        media,
        temp: request.temp,
        queueby: request.queueby.clone(),
    };
    playlist.next_uid += 1;
    match playlist.current_index().filter(|_| request.next) {
        None => playlist.items.push(item.clone()),
        Some(current) => {
            if let Some((old, temp)) = existing.filter(|_| !dupes) {
                item.temp = temp;
                playlist.items.insert(current + 1, item.clone());
                super::playlist::delete(state, channel, old);
            } else {
                playlist.items.insert(current + 1, item.clone());
            }
        }
    }
    let playlist = &state.room(channel).playlist;
    let index = playlist.index_of(item.uid).unwrap_or(0);
    let after = match index.checked_sub(1) {
        Some(prev) => json!(playlist.items[prev].uid),
        None => json!("prepend"),
    };
    let packet = json!({"item": item.pack(), "after": after});
    let meta = playlist.meta();
    let alone = playlist.items.len() == 1;
    broadcast_each(state, channel, "queue", |room, s| {
        room.can(s.rank, "seeplaylist").then(|| packet.clone())
    });
    broadcast(state, channel, "setPlaylistMeta", &meta);
    if alone {
        state.room(channel).playlist.current = Some(item.uid);
        playback::start(state, channel, None);
    }
}

/// CyTube's `util.formatLink`.
pub(crate) fn format_link(id: &str, kind: &str) -> String {
    let halves = || id.split_once(';').unwrap_or((id, ""));
    match kind {
        "yt" => format!("https://youtu.be/{id}"),
        "vi" => format!("https://vimeo.com/{id}"),
        "dm" => format!("https://dailymotion.com/video/{id}"),
        "li" => format!("https://livestream.com/{id}"),
        "tw" => format!("https://twitch.tv/{id}"),
        "gd" => format!("https://docs.google.com/file/d/{id}"),
        "sb" => format!("https://streamable.com/{id}"),
        "tc" => format!("https://clips.twitch.tv/{id}"),
        "sc" | "rt" | "fi" | "hl" | "cm" => id.to_owned(),
        "pt" => {
            let (domain, uuid) = halves();
            format!("https://{domain}/videos/watch/{uuid}")
        }
        "bc" => format!("https://www.bitchute.com/video/{id}/"),
        "bn" => {
            let (artist, track) = halves();
            format!("https://{artist}.bandcamp.com/track/{track}")
        }
        "od" => {
            let (user, video) = halves();
            format!("https://odysee.com/@{user}/{video}")
        }
        "nv" => format!("https://www.nicovideo.jp/watch/{id}"),
        _ => String::new(),
    }
}
