//! # playlist
//!
//! A rosey plugin for a CyTube channel's playlist. It shows an author how to act on the
//! channel ([`Context::channel`]: queue, skip), how to read it (the playlist, who is present,
//! the bot itself), how to word an action's failure for the chat, and how to keep fleeting
//! state (skip votes) across a reload.
//!
//! Commands:
//!
//! * `!add <link>` queues the link at the end of the playlist and answers
//!   `Added: <title> (#<position>)`, or `Cannot add that: <why>` in the chat server's (or the
//!   bot's) words. With `max_per_user` set, someone who already has that many items in the
//!   playlist is refused politely first.
//! * `!np` says what plays now, how far in, and who queued it:
//!   `Now playing: Song [1:23/3:45], queued by alice`.
//! * `!queue` lists the next `queue_show` items, or says `The playlist is empty.` /
//!   `Nothing after this.`
//! * `!skip` votes to skip what plays. The users present vote (those marked away and the bot
//!   itself do not count), once each per item; when the votes reach `skip_threshold` of them
//!   (rounded up, at least one) the bot skips: `Skipping <title> (2/2 votes)`; until then
//!   `bob voted to skip (1/2)`. A moderator skips at once with `!skip now` (unless
//!   `mods_skip_now` is off).
//!
//! **Acting on the channel.** The manifest declares `channel: [playlist, skip]`; each action
//! waits for the chat server and returns an [`rosey_abi::ActionError`] whose kind says whose
//! doing a failure was. The plugin words them for the chat: a bot whose rank is too low to
//! skip ([`ActionErrorKind::BotRank`]) says so once (`I can't skip here: …`), not at every
//! vote after, until a skip works again.
//!
//! **Who queued it.** The chat server records the bot as the one who queued what `!add`
//! added, so the plugin remembers who asked for each item it queued (by uid) and uses that for
//! `!np` and for `max_per_user`.
//!
//! **Votes across reloads.** Votes belong to the item playing (by uid): they are dropped on a
//! `media.change` event and whenever another uid plays. They live in memory and are handed to
//! the next instance with who-asked-for-what through [`Plugin::unload`] (see [`carry`]); a
//! restart forgets them.
//!
//! Configuration (`config.yaml`, all taken live by [`Plugin::on_config`]): `max_per_user`
//! (default 0: no limit), `queue_show` (default 5), `skip_threshold` (default 0.5),
//! `mods_skip_now` (default true).

pub mod carry;
pub mod show;
pub mod votes;

use rosey_abi::{
    export_plugin, ActionErrorKind, Command, Config, Context, Error, Event, LoadContext, Playlist,
    Plugin, PluginResult, QueueAt, Rank,
};

use carry::Carried;
use votes::SkipVotes;

/// How `!add` is used.
pub const ADD_USAGE: &str = "Usage: !add <link> (a link CyTube's own add box takes)";

/// What the plugin says when the chat's playlist cannot be read (a local chat has none).
pub const CANNOT_SEE: &str = "I can't see the playlist here.";

/// How many queued items the plugin remembers the requester of (oldest forgotten first).
const MAX_REMEMBERED: usize = 500;

/// The plugin's settings, from `config.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How many items one user may have in the playlist through `!add`; 0: no limit.
    pub max_per_user: usize,
    /// How many upcoming items `!queue` lists.
    pub queue_show: usize,
    /// The share of the users present whose votes skip.
    pub skip_threshold: f64,
    /// Whether moderators skip at once with `!skip now`.
    pub mods_skip_now: bool,
}

impl Settings {
    /// The settings `config` gives, defaults for what it leaves out; an error naming the key
    /// that is wrong.
    pub fn from_config(config: &Config<'_>) -> PluginResult<Settings> {
        let settings = Settings {
            max_per_user: config.get_or("max_per_user", 0)?,
            queue_show: config.get_or("queue_show", 5)?,
            skip_threshold: config.get_or("skip_threshold", 0.5)?,
            mods_skip_now: config.get_or("mods_skip_now", true)?,
        };
        if !(1..=20).contains(&settings.queue_show) {
            return Err(Error::msg("config: queue_show must be from 1 to 20"));
        }
        let threshold = settings.skip_threshold;
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(Error::msg(format!(
                "config: skip_threshold must be above 0 and at most 1, not {threshold}"
            )));
        }
        Ok(settings)
    }
}

/// The plugin: its settings, the votes on the item playing, and who asked for what it queued.
pub struct PlaylistPlugin {
    settings: Settings,
    votes: SkipVotes,
    /// Items `!add` queued: uid and who asked, oldest first.
    added: Vec<(u64, String)>,
    /// Whether the bot's missing rank to skip was said already.
    rank_reported: bool,
}

impl PlaylistPlugin {
    /// Who asked the plugin to queue item `uid`, if it did.
    fn requester(&self, uid: u64) -> Option<&str> {
        (self.added.iter())
            .find(|(added, _)| *added == uid)
            .map(|(_, user)| user.as_str())
    }

    /// How many items of `playlist` are `user`'s: queued by them, or by the bot for them.
    fn items_of(&self, playlist: &Playlist, user: &str) -> usize {
        (playlist.items.iter())
            .filter(|item| {
                let by = self.requester(item.uid).unwrap_or(&item.queued_by);
                by.eq_ignore_ascii_case(user)
            })
            .count()
    }

    /// The channel's playlist, or `None` (logged) when it cannot be read.
    fn playlist(ctx: &Context<'_>) -> Option<Playlist> {
        match ctx.channel().playlist() {
            Ok(playlist) => Some(playlist),
            Err(err) => {
                ctx.warn(format!("cannot read the playlist: {err}"));
                None
            }
        }
    }

    /// `!add <link>`.
    fn add(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> String {
        let user = cmd.user();
        let mut words = cmd.args().split_whitespace();
        let (Some(link), None) = (words.next(), words.next()) else {
            return ADD_USAGE.to_owned();
        };
        if self.settings.max_per_user > 0 {
            // Without a playlist to count in, CyTube's own limits are left to decide.
            if let Some(playlist) = PlaylistPlugin::playlist(ctx) {
                self.added.retain(|(uid, _)| playlist.item(*uid).is_some());
                let mine = self.items_of(&playlist, user);
                if mine >= self.settings.max_per_user {
                    return format!(
                        "{user}, you already have {mine} in the playlist, the most one person \
                         may add here. Try again once one has played."
                    );
                }
            }
        }
        match ctx.channel().queue(link, QueueAt::End, false) {
            Ok(queued) => {
                self.added.push((queued.uid, user.to_owned()));
                let excess = self.added.len().saturating_sub(MAX_REMEMBERED);
                self.added.drain(..excess);
                ctx.info(format!("queued {link} for {user} (uid {})", queued.uid));
                let position = (PlaylistPlugin::playlist(ctx))
                    .and_then(|playlist| playlist.items.iter().position(|i| i.uid == queued.uid));
                match position {
                    Some(index) => format!("Added: {} (#{})", queued.title, index + 1),
                    None => format!("Added: {}", queued.title),
                }
            }
            Err(err) => {
                ctx.info(format!("could not queue {link} for {user}: {err:?}"));
                format!("Cannot add that: {}", err.message)
            }
        }
    }

    /// `!np`.
    fn now_playing(&self, ctx: &Context<'_>) -> String {
        let Some(playlist) = PlaylistPlugin::playlist(ctx) else {
            return CANNOT_SEE.to_owned();
        };
        match playlist.now_playing() {
            Some(item) => {
                let by = self.requester(item.uid).unwrap_or(&item.queued_by);
                show::now_playing(item, playlist.position, playlist.paused, Some(by))
            }
            None => "Nothing is playing.".to_owned(),
        }
    }

    /// `!queue`.
    fn queue(&self, ctx: &Context<'_>) -> String {
        let Some(playlist) = PlaylistPlugin::playlist(ctx) else {
            return CANNOT_SEE.to_owned();
        };
        if playlist.items.is_empty() {
            return "The playlist is empty.".to_owned();
        }
        let upcoming: Vec<_> = playlist.upcoming().collect();
        if upcoming.is_empty() {
            return "Nothing after this.".to_owned();
        }
        show::upcoming(&upcoming, self.settings.queue_show)
    }

    /// `!skip` and `!skip now`.
    fn skip(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> String {
        let user = cmd.user();
        let Some(playlist) = PlaylistPlugin::playlist(ctx) else {
            return CANNOT_SEE.to_owned();
        };
        let Some(item) = playlist.now_playing() else {
            return "Nothing is playing.".to_owned();
        };
        self.votes.follow(item.uid);
        let is_mod = cmd.rank().is_some_and(|rank| rank >= Rank::MODERATOR);
        if cmd.args().eq_ignore_ascii_case("now") && is_mod && self.settings.mods_skip_now {
            ctx.info(format!("{user} skips {} at once", item.title));
            return self.skip_now(ctx, &item.title, &format!("{user} skipped it"), || {
                "I still can't skip here.".to_owned()
            });
        }
        let present = present(ctx, user);
        let first_vote = self.votes.vote(user);
        let votes = self.votes.count_among(&present);
        let needed = votes::needed(present.len(), self.settings.skip_threshold);
        if votes >= needed {
            let tally = format!("{user} voted to skip ({votes}/{needed})");
            return self.skip_now(ctx, &item.title, &format!("{votes}/{needed} votes"), || {
                format!("{tally}; I still can't skip here.")
            });
        }
        if first_vote {
            format!("{user} voted to skip ({votes}/{needed})")
        } else {
            format!("{user}, you already voted to skip this ({votes}/{needed}).")
        }
    }

    /// Skips what plays (`title`); what to say: `Skipping <title> (<why>)`, or the failure.
    /// A bot without the rank is said once; after that, `still` is what is said.
    fn skip_now(
        &mut self,
        ctx: &Context<'_>,
        title: &str,
        why: &str,
        still: impl FnOnce() -> String,
    ) -> String {
        match ctx.channel().skip() {
            Ok(()) => {
                self.votes.clear();
                self.rank_reported = false;
                format!("Skipping {title} ({why})")
            }
            Err(err) if err.kind == ActionErrorKind::BotRank => {
                if self.rank_reported {
                    return still();
                }
                self.rank_reported = true;
                ctx.warn(format!("cannot skip: {}", err.message));
                format!("I can't skip here: {}", err.message)
            }
            Err(err) => {
                ctx.warn(format!("skip failed: {err:?}"));
                format!("Could not skip {title}: {}", err.message)
            }
        }
    }
}

/// Who may vote now, lowercased: the users present who are not away, the bot left out, and
/// `voter` always in (they are evidently here).
fn present(ctx: &Context<'_>, voter: &str) -> Vec<String> {
    let bot = ctx.channel().bot().map(|bot| bot.name).unwrap_or_default();
    let users = ctx.users().unwrap_or_else(|err| {
        ctx.warn(format!("cannot list the channel's users: {err}"));
        Vec::new()
    });
    let mut present: Vec<String> = (users.into_iter())
        .filter(|user| !user.afk && !user.name.eq_ignore_ascii_case(&bot))
        .map(|user| user.name.to_lowercase())
        .collect();
    let voter = voter.to_lowercase();
    if !present.contains(&voter) {
        present.push(voter);
    }
    present
}

impl Plugin for PlaylistPlugin {
    fn load(ctx: &LoadContext<'_>) -> PluginResult<Self> {
        let settings = Settings::from_config(&ctx.config())?;
        let carried = match ctx.state().filter(|state| !state.is_empty()) {
            None => Carried::default(),
            Some(state) => Carried::decode(state).unwrap_or_else(|err| {
                ctx.warn(format!(
                    "cannot read the handed-over state ({err}); starting fresh"
                ));
                Carried::default()
            }),
        };
        Ok(PlaylistPlugin {
            settings,
            votes: carried.votes,
            added: carried.added,
            rank_reported: carried.rank_reported,
        })
    }

    fn on_config(&mut self, ctx: &Context<'_>, config: &Config<'_>) -> PluginResult<()> {
        self.settings = Settings::from_config(config)?;
        ctx.info(format!("settings now {:?}", self.settings));
        Ok(())
    }

    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
        let reply = match cmd.name() {
            "add" => self.add(ctx, cmd),
            "np" => self.now_playing(ctx),
            "queue" => self.queue(ctx),
            "skip" => self.skip(ctx, cmd),
            other => {
                ctx.warn(format!("got a command it does not claim: {other}"));
                return Ok(());
            }
        };
        ctx.reply(reply);
        Ok(())
    }

    fn on_event(&mut self, _ctx: &Context<'_>, event: &Event<'_>) -> PluginResult<()> {
        if event.kind() == "media.change" {
            self.votes.clear();
        }
        Ok(())
    }

    fn unload(&mut self, _ctx: &Context<'_>) -> PluginResult<Vec<u8>> {
        let carried = Carried {
            votes: self.votes.clone(),
            added: self.added.clone(),
            rank_reported: self.rank_reported,
        };
        Ok(carried.encode())
    }
}

export_plugin!(PlaylistPlugin);

#[cfg(test)]
mod tests;
