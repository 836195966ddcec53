use super::{parse, MediaLink};

const PL32: &str = "PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG";
const YT: &str = "dQw4w9WgXcQ";
const UUID: &str = "9c9de5e8-0a1e-484a-b099-e80766180a6d";
const SHORT22: &str = "kkGMgK9ZtnKfYAgnEtQxbv";

/// What a case expects: `Ok((kind, id))`, or an error containing the text.
type Expected = Result<(&'static str, String), &'static str>;

fn ok(kind: &'static str, id: impl Into<String>) -> Expected {
    Ok((kind, id.into()))
}

fn check(cases: &[(String, Expected)]) {
    for (link, expected) in cases {
        let got = parse(link);
        match expected {
            Ok((kind, id)) => assert_eq!(
                got,
                Ok(MediaLink {
                    kind: (*kind).to_owned(),
                    id: id.clone(),
                }),
                "link {link:?}"
            ),
            Err(text) => {
                let err = got
                    .expect_err(&format!("{link:?} should be refused"))
                    .to_string();
                assert!(err.contains(text), "link {link:?}: {err:?} lacks {text:?}");
                assert!(
                    !err.contains('\n'),
                    "link {link:?}: {err:?} is not one line"
                );
            }
        }
    }
}

fn cases(rows: &[(&str, Expected)]) -> Vec<(String, Expected)> {
    rows.iter()
        .map(|(l, e)| ((*l).to_owned(), e.clone()))
        .collect()
}

const INDETERMINABLE: &str = "Could not determine video type.";
const BAD_PLAYLIST: &str = "Invalid YouTube Playlist ID.";

#[test]
fn short_form() {
    check(&[
        (format!("yt:{YT}"), ok("yt", YT)),
        (format!("yt:{YT}?t=10&x=1"), ok("yt", YT)),
        ("yt:#abc".into(), ok("yt", "abc")),
        ("dm:x7tgad0_some-title?x".into(), ok("dm", "x7tgad0")),
        (
            "fi:https://a.example/v.mp4?x=1#t".into(),
            ok("fi", "https://a.example/v.mp4?x=1#t"),
        ),
        (
            "cm:https://a.example/m.json?k".into(),
            ok("cm", "https://a.example/m.json?k"),
        ),
        (format!("yp:{PL32}"), ok("yp", PL32)),
        (
            "yp:PL0123456789ABCDEF".into(),
            ok("yp", "PL0123456789ABCDEF"),
        ),
        (
            format!("yp:OLA{}", "a".repeat(38)),
            ok("yp", format!("OLA{}", "a".repeat(38))),
        ),
        ("yp:PLshort".into(), Err(BAD_PLAYLIST)),
        (format!("yp:{PL32}x"), Err(BAD_PLAYLIST)),
        ("ab:whatever?x".into(), ok("ab", "whatever")),
        ("tw:channel".into(), ok("tw", "channel")),
        ("yt:".into(), Err("has no id")),
        ("vi:?&#".into(), Err("has no id")),
        ("dm:_".into(), Err("has no id")),
        (
            "fi:http://a.example/v.mp4".into(),
            Err("Plain http is not supported"),
        ),
    ]);
}

#[test]
fn before_the_host() {
    check(&cases(&[
        (
            "rtmp://live.example/app/key",
            ok("rt", "rtmp://live.example/app/key"),
        ),
        (
            "https://cdn.example/live/index.m3u8?t=1",
            ok("hl", "https://cdn.example/live/index.m3u8?t=1"),
        ),
        (
            "http://cdn.example/live/index.m3u8",
            ok("hl", "http://cdn.example/live/index.m3u8"),
        ),
        (
            "https://a.example/manifest.json",
            ok("cm", "https://a.example/manifest.json"),
        ),
        // Checked before the host: a .json path on youtube.com is still cm.
        (
            "https://youtube.com/x.json",
            ok("cm", "https://youtube.com/x.json"),
        ),
    ]));
}

#[test]
fn youtube() {
    check(&[
        (
            format!("https://www.youtube.com/watch?v={YT}&list={PL32}"),
            ok("yt", YT),
        ),
        ("https://youtube.com/watch?v=".into(), ok("yt", "")),
        (
            "https://youtube.com/watch?list=x".into(),
            Err("no video id"),
        ),
        (
            format!("https://youtube.com/shorts/{YT}XYZ?f"),
            ok("yt", YT),
        ),
        ("https://youtube.com/shorts/abc".into(), ok("yt", "abc")),
        (
            format!("https://youtube.com/playlist?list={PL32}"),
            ok("yp", PL32),
        ),
        (
            "https://youtube.com/playlist?list=RDdQw4w9WgXcQ".into(),
            Err(BAD_PLAYLIST),
        ),
        ("https://youtube.com/playlist".into(), Err(BAD_PLAYLIST)),
        // Other paths fall through to youtu.be.
        (
            format!("https://www.youtube.com/embed/{YT}"),
            ok("yt", format!("embed/{YT}")),
        ),
        (
            format!("https://youtube.com/live/{YT}?si=x"),
            ok("yt", format!("live/{YT}")),
        ),
        (format!("https://youtu.be/{YT}?t=5"), ok("yt", YT)),
        // Only the exact hosts: other subdomains are raw files.
        (
            format!("https://m.youtube.com/watch?v={YT}"),
            ok("fi", format!("https://m.youtube.com/watch?v={YT}")),
        ),
        // The first `www.` anywhere is dropped.
        (
            format!("https://youtube.www.com/watch?v={YT}"),
            ok("yt", YT),
        ),
        (
            format!("https://m.www.youtube.com/watch?v={YT}"),
            ok("fi", format!("https://m.www.youtube.com/watch?v={YT}")),
        ),
    ]);
}

#[test]
fn other_providers() {
    check(&cases(&[
        (
            "https://www.twitch.tv/chan/clip/FunnySlug-abc",
            ok("tc", "FunnySlug-abc"),
        ),
        ("https://twitch.tv/videos/123456", ok("tv", "v123456")),
        ("https://twitch.tv/chan", ok("tw", "chan")),
        ("https://clips.twitch.tv/FunnySlug", ok("tc", "FunnySlug")),
        (
            "https://livestream.com/accounts/123/events/456/videos/7",
            ok("li", "123;456"),
        ),
        (
            "https://livestream.com/accounts/123",
            Err("no numeric event"),
        ),
        (
            "https://livestream.com/someone",
            Err("This format of Livestream.com link"),
        ),
        ("https://vimeo.com/123456", ok("vi", "123456")),
        (
            "https://www.dailymotion.com/video/x7tgad0",
            ok("dm", "x7tgad0"),
        ),
        (
            "https://soundcloud.com/a/b?x",
            ok("sc", "https://soundcloud.com/a/b?x"),
        ),
        ("https://streamable.com/abc12", ok("sb", "abc12")),
        (
            "https://docs.google.com/file/d/FILEid_-1/view?usp=sharing",
            ok("gd", "FILEid_-1"),
        ),
        (
            "https://drive.google.com/open?id=FILEid",
            ok("gd", "FILEid"),
        ),
        ("https://drive.google.com/open", Err("no file id")),
        ("https://www.bitchute.com/video/AbC123/", ok("bc", "AbC123")),
        ("https://www.nicovideo.jp/watch/sm9", ok("nv", "sm9")),
        (
            "https://odysee.com/@chan:a/some-video:b",
            ok("od", "chan;some-video"),
        ),
        ("https://odysee.com/@chan/video", ok("od", "chan;video")),
        ("https://odysee.com/@a/b/c", ok("od", "a/b;c")),
        (
            "https://odysee.com/about",
            ok("fi", "https://odysee.com/about"),
        ),
    ]));
}

#[test]
fn switch_fall_throughs() {
    check(&cases(&[
        // google → bitchute → nicovideo → odysee → after the switch.
        ("https://drive.google.com/video/abc/def", ok("bc", "abc")),
        ("https://docs.google.com/watch/sm9", ok("nv", "sm9")),
        ("https://bitchute.com/watch/sm9", ok("nv", "sm9")),
        ("https://nicovideo.jp/@u/v", ok("od", "u;v")),
        ("https://drive.google.com/@u:1/v:2", ok("od", "u;v")),
        (
            "https://drive.google.com/drive/folders/x",
            ok("fi", "https://drive.google.com/drive/folders/x"),
        ),
        // Cases that return never reach the chain.
        ("https://vimeo.com/@u/v", ok("vi", "@u/v")),
    ]));
}

#[test]
fn bandcamp_and_peertube() {
    check(&[
        (
            "https://artist.bandcamp.com/track/song-name".into(),
            ok("bn", "artist;song-name"),
        ),
        (
            "https://www.artist.bandcamp.com/track/s".into(),
            ok("bn", "www.artist;s"),
        ),
        (
            "https://artist.bandcamp.com/album/x".into(),
            ok("fi", "https://artist.bandcamp.com/album/x"),
        ),
        (
            format!("https://tube.example/w/{SHORT22}"),
            ok("pt", format!("tube.example;{SHORT22}")),
        ),
        (
            format!("https://www.tube.example/w/{SHORT22}extra"),
            ok("pt", format!("www.tube.example;{SHORT22}")),
        ),
        (
            format!("https://tube.example/videos/watch/{UUID}"),
            ok("pt", format!("tube.example;{UUID}")),
        ),
        (
            format!("https://tube.example/w/{UUID}"),
            ok("pt", format!("tube.example;{UUID}")),
        ),
        // The pattern is unanchored once the path starts right.
        (
            format!("https://tube.example/w/x/w/{SHORT22}"),
            ok("pt", format!("tube.example;{SHORT22}")),
        ),
        (
            "https://tube.example/w/short".into(),
            ok("fi", "https://tube.example/w/short"),
        ),
        (
            format!("https://tube.example/a/w/{SHORT22}"),
            ok("fi", format!("https://tube.example/a/w/{SHORT22}")),
        ),
    ]);
}

#[test]
fn raw_files_and_refusals() {
    check(&cases(&[
        (
            "https://a.example/video.mp4",
            ok("fi", "https://a.example/video.mp4"),
        ),
        ("https://dai.ly/x7tgad0", ok("fi", "https://dai.ly/x7tgad0")),
        (
            "http://a.example/video.mp4",
            Err("Raw files must begin with 'https'."),
        ),
        // The UI's test is a case-sensitive /^http:/ on the link as typed.
        (
            "HTTP://a.example/video.mp4",
            ok("fi", "HTTP://a.example/video.mp4"),
        ),
        (
            "https://kissanime.ru/Anime/x",
            Err("Kisscartoon and Kissanime are not supported."),
        ),
        ("https://KimCartoon.li/x", Err("Kisscartoon and Kissanime")),
        (
            "https://kisscartoon.example/x",
            Err("Kisscartoon and Kissanime"),
        ),
        (
            "https://mega.nz/file/abc#key",
            Err("Mega.nz is not supported."),
        ),
        (
            "fi:https://mega.nz/file/abc",
            Err("Mega.nz is not supported."),
        ),
    ]));
}

#[test]
fn garbage() {
    check(&cases(&[
        ("", Err(INDETERMINABLE)),
        ("not a link", Err(INDETERMINABLE)),
        ("ftp://x", Err(INDETERMINABLE)),
        ("ftp://x/list.json", ok("cm", "ftp://x/list.json")),
        ("mailto:someone@example.com", Err(INDETERMINABLE)),
        ("YT:abc", Err(INDETERMINABLE)),
        ("https://", Err(INDETERMINABLE)),
    ]));
}
