//! The dashboard's token: the one `web.token` sets, or one generated at the first start and
//! kept in the home (`data/web-token`, mode 0600), or none (`web.token: none`, loopback only).
//! The daemon resolves it when it starts; the CLI reads the same file to print the link that
//! opens the page (`http://127.0.0.1:8080/?token=…`).

use std::{
    fs::{self, OpenOptions},
    io::{Read, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
};

use rosey_core::{
    config::{TokenSetting, WebConfig},
    paths::Home,
};

/// Bytes of randomness in a generated token (64 hex digits).
const TOKEN_BYTES: usize = 32;

/// The token every request must carry (`None`: `web.token: none`), generating and saving one
/// when `web.token` is unset and the home has none yet.
pub fn resolve(home: &Home, web: &WebConfig) -> Result<Option<String>, String> {
    match web.token_setting() {
        TokenSetting::Off => Ok(None),
        TokenSetting::Given(token) => Ok(Some(token.to_owned())),
        TokenSetting::Generated => load_or_create(home).map(Some),
    }
}

/// The token as [`resolve`] would find it, without creating one (for the CLI).
pub fn read(home: &Home, web: &WebConfig) -> Option<String> {
    match web.token_setting() {
        TokenSetting::Off => None,
        TokenSetting::Given(token) => Some(token.to_owned()),
        TokenSetting::Generated => saved(home),
    }
}

/// The link that opens the dashboard at `url` (`http://host:port/`) and signs the browser in.
pub fn link(url: &str, token: Option<&str>) -> String {
    match token {
        Some(token) => format!("{url}?token={}", encode(token)),
        None => url.to_owned(),
    }
}

fn saved(home: &Home) -> Option<String> {
    let text = fs::read_to_string(home.web_token_file()).ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

fn load_or_create(home: &Home) -> Result<String, String> {
    let path = home.web_token_file();
    if let Some(token) = saved(home) {
        // Whatever made it readable to others, it is the operator's alone again.
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
        return Ok(token);
    }
    let token =
        generate().map_err(|err| format!("cannot generate the dashboard's token: {err}"))?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| {
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
            file.write_all(format!("{token}\n").as_bytes())
        });
    written.map_err(|err| {
        format!(
            "cannot save the dashboard's token in {}: {err}",
            path.display()
        )
    })?;
    Ok(token)
}

/// 32 bytes from the kernel's CSPRNG, as hex.
fn generate() -> std::io::Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Percent-encodes everything but unreserved characters (a configured token may hold `&`).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Undoes [`encode`] (and any other percent-encoding a browser applied); `None` when broken.
pub(super) fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().expect("temp home");
        let home = Home::new(dir.path());
        let web = WebConfig::default();
        assert_eq!(read(&home, &web), None);
        let token = resolve(&home, &web).expect("generated").expect("a token");
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        let mode = fs::metadata(home.web_token_file())
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(resolve(&home, &web).expect("again"), Some(token.clone()));
        assert_eq!(read(&home, &web), Some(token));
        let other = resolve(&Home::new(dir.path().join("other")), &web)
            .expect("other")
            .expect("token");
        assert_ne!(Some(other), read(&home, &web), "random per home");
    }

    #[test]
    fn none_and_given_tokens() {
        let dir = tempfile::tempdir().expect("temp home");
        let home = Home::new(dir.path());
        let off = WebConfig {
            token: Some("none".to_owned()),
            ..WebConfig::default()
        };
        assert_eq!(resolve(&home, &off).expect("off"), None);
        assert!(!home.web_token_file().exists());
        let given = WebConfig {
            token: Some("a&b=c-and-more-characters".to_owned()),
            ..WebConfig::default()
        };
        let token = resolve(&home, &given).expect("given").expect("token");
        let link = link("http://127.0.0.1:8080/", Some(&token));
        assert_eq!(
            link,
            "http://127.0.0.1:8080/?token=a%26b%3Dc-and-more-characters"
        );
        let query = link.split_once("?token=").expect("query").1;
        assert_eq!(decode(query).as_deref(), Some(token.as_str()));
    }
}
