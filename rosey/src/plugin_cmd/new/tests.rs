//! Tests of `rosey plugin new`: names, placement, rendering and creating the crate.

use super::{
    place::is_sdk_crate,
    render::{fill, toml_string, yaml_scalar},
    *,
};

fn names(name: &str) -> Names {
    Names::new(name).expect("valid name")
}

fn standalone(dir: &str, sdk: Sdk) -> Placement {
    Placement {
        dir: PathBuf::from(dir),
        workspace: None,
        sdk,
    }
}

fn file<'a>(files: &'a [(&'static str, String)], name: &str) -> &'a str {
    files
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, text)| text.as_str())
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn names_follow_the_plugin_name() {
    let greeter = names("greeter");
    assert_eq!(greeter.crate_name, "greeter");
    assert_eq!(greeter.type_name, "GreeterPlugin");
    assert_eq!(greeter.command, "greeter");

    let hello = names("hello-world-2");
    assert_eq!(hello.crate_name, "hello-world-2");
    assert_eq!(hello.type_name, "HelloWorld2Plugin");
    assert_eq!(hello.command, "hello");

    let ball = names("8ball");
    assert_eq!(
        ball.crate_name, "plugin-8ball",
        "a crate name cannot start with a digit"
    );
    assert_eq!(ball.type_name, "Plugin8ball");
    assert_eq!(ball.command, "8ball");

    assert_eq!(names("std").crate_name, "plugin-std");
    assert_eq!(names("self").type_name, "SelfPlugin");
    assert_eq!(names("context").type_name, "ContextPlugin");

    let long = "a".repeat(40) + "-b";
    let command = names(&long).command;
    assert_eq!(command.len(), 32);
    assert!(rosey_core::manifest::is_valid_command(&command));
}

#[test]
fn bad_names_are_refused_with_the_rule_and_an_example() {
    let err = check_name("Greeter").expect_err("upper case").to_string();
    assert!(err.contains("not a valid plugin name"), "{err}");
    assert!(
        err.contains("3 to 50 characters of a-z, 0-9 and -"),
        "{err}"
    );
    assert!(err.contains("for example \"greeter\""), "{err}");
    let err = check_name("my_plugin").expect_err("underscore").to_string();
    assert!(err.contains("for example \"my-plugin\""), "{err}");
    let err = check_name("ab").expect_err("short").to_string();
    assert!(err.contains("not a valid plugin name"), "{err}");
    assert!(!err.contains("for example"), "{err}");
    check_name(&"a".repeat(51)).expect_err("long");

    for reserved in units::RESERVED_NAMES {
        let err = check_name(reserved).expect_err(reserved).to_string();
        assert!(err.contains("part of rosey itself"), "{err}");
        assert!(err.contains(&format!("{reserved}-plugin")), "{err}");
    }
    for odd in ["-abc", "abc-", "ab--c"] {
        let err = check_name(odd).expect_err(odd).to_string();
        assert!(err.contains("start and end the name"), "{err}");
    }
    assert!(check_name("ab--c")
        .unwrap_err()
        .to_string()
        .contains("\"ab-c\""));
    for good in ["greeter", "8ball", "quote-db", "a1-b2"] {
        check_name(good).expect(good);
    }
}

#[test]
fn a_standalone_crate_is_its_own_workspace_and_points_at_the_checkout() {
    let placement = standalone(
        "/tmp/x/greeter",
        Sdk::Checkout(PathBuf::from("/src/ro\"sey/rosey-abi")),
    );
    let files = render(&names("greeter"), &placement, "alice");
    let listed: Vec<&str> = files.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        listed,
        [
            "Cargo.toml",
            "manifest.yaml",
            "config.default.yaml",
            "src/lib.rs",
            "README.md",
            ".gitignore"
        ]
    );
    for (name, text) in &files {
        assert!(!text.contains("{{"), "{name} keeps a placeholder:\n{text}");
    }
    let cargo = file(&files, "Cargo.toml");
    assert!(cargo.contains("name = \"greeter\"\n"), "{cargo}");
    assert!(cargo.contains("version = \"0.1.0\"\n"), "{cargo}");
    assert!(cargo.contains("edition = \"2021\"\n"), "{cargo}");
    assert!(
        cargo.contains("crate-type = [\"cdylib\", \"rlib\"]\n"),
        "{cargo}"
    );
    assert!(
        cargo.contains("rosey-abi = { path = \"/src/ro\\\"sey/rosey-abi\" }\n"),
        "{cargo}"
    );
    assert!(cargo.ends_with("\n[workspace]\n"), "{cargo}");
    assert_eq!(file(&files, ".gitignore"), "target/\n");
    let readme = file(&files, "README.md");
    assert!(readme.contains("rosey plugin pack ."), "{readme}");
    assert!(readme.contains("    - /tmp/x/greeter\n"), "{readme}");
    let lib = file(&files, "src/lib.rs");
    assert!(lib.starts_with("//! # greeter\n"), "{lib}");
    assert!(lib.contains("pub struct GreeterPlugin {"), "{lib}");
    assert!(lib.contains("            \"greeter\" => {\n"), "{lib}");
    assert!(lib.contains("export_plugin!(GreeterPlugin);"), "{lib}");
    assert!(lib.contains("#[cfg(test)]"), "{lib}");
}

#[test]
fn the_manifest_and_config_are_what_pack_and_install_accept() {
    let files = render(
        &names("hello-world"),
        &standalone("/x/hello-world", Sdk::Registry),
        "true",
    );
    let template = file(&files, "manifest.yaml");
    let manifest = rosey_core::manifest::Manifest::parse(&format!(
        "{template}version: 0.1.0\nlibrary: libhello_world.so\nabi: {}\n",
        rosey_abi::ABI_VERSION
    ))
    .expect("a valid manifest once pack completes it");
    assert_eq!(manifest.name, "hello-world");
    assert_eq!(manifest.author, "true", "quoted, so not read as a boolean");
    assert_eq!(manifest.commands.len(), 1);
    let command = &manifest.commands[0];
    assert_eq!(command.name, "hello");
    assert_eq!(command.usage.as_deref(), Some("!hello [name]"));
    assert!(command.help.is_some());
    assert!(manifest.events.is_empty());
    assert_eq!(manifest.permissions, ["send_messages"]);
    assert!(template.contains("# The commands it answers"), "{template}");

    let config: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(file(&files, "config.default.yaml")).expect("yaml");
    assert_eq!(config["greeting"], "Hello");

    let cargo = file(&files, "Cargo.toml");
    assert!(
        cargo.contains(&format!("rosey-abi = \"{}\"\n", rosey_abi::SDK_VERSION)),
        "{cargo}"
    );
    assert!(cargo.contains("crates.io"), "{cargo}");
}

#[test]
fn a_crate_in_a_workspace_plugins_folder_joins_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let ws = root.path().canonicalize().expect("canonical");
    std::fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nmembers = [\"rosey-abi\", \"plugins/*\"]\n",
    )
    .expect("write");
    std::fs::create_dir_all(ws.join("rosey-abi")).expect("mkdir");
    std::fs::write(
        ws.join("rosey-abi/Cargo.toml"),
        "[package]\nname = \"rosey-abi\"\n",
    )
    .expect("write");
    std::fs::create_dir_all(ws.join("plugins")).expect("mkdir");
    let nowhere = || None;

    let placement = place(&ws.join("plugins/greeter"), nowhere);
    assert_eq!(placement.workspace.as_deref(), Some(ws.as_path()));
    assert_eq!(placement.sdk, Sdk::Workspace);
    let files = render(&names("greeter"), &placement, "alice");
    let cargo = file(&files, "Cargo.toml");
    assert!(!cargo.contains("[workspace]"), "{cargo}");
    assert!(
        cargo.contains("rosey-abi = { path = \"../../rosey-abi\" }\n"),
        "{cargo}"
    );
    assert!(file(&files, "README.md").contains("rosey dev"));

    // Elsewhere in the workspace, or deeper in plugins/, it is a workspace of its own.
    for dir in ["greeter", "demo-home/greeter", "plugins/fixtures/greeter"] {
        let placement = place(&ws.join(dir), nowhere);
        assert_eq!(placement.workspace, None, "{dir}");
        assert_eq!(placement.sdk, Sdk::Registry, "{dir}");
    }
    // A workspace without rosey-abi of its own: the checkout's.
    std::fs::remove_dir_all(ws.join("rosey-abi")).expect("rm");
    let checkout = || Some(PathBuf::from("/rosey/rosey-abi"));
    let placement = place(&ws.join("plugins/greeter"), checkout);
    assert!(placement.workspace.is_some());
    assert_eq!(placement.sdk, Sdk::Checkout("/rosey/rosey-abi".into()));
    // Not a workspace that lists plugins/*.
    std::fs::write(ws.join("Cargo.toml"), "[workspace]\nmembers = [\"a\"]\n").expect("write");
    assert_eq!(place(&ws.join("plugins/greeter"), nowhere).workspace, None);
}

#[test]
fn create_writes_the_crate_and_refuses_taken_folders_leaving_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let cwd = root.path();
    let created = create("greeter", None, cwd, "alice").expect("create");
    let dir = cwd.canonicalize().expect("canonical").join("greeter");
    assert_eq!(created.placement.dir, dir);
    for file in [
        "Cargo.toml",
        "manifest.yaml",
        "config.default.yaml",
        "src/lib.rs",
    ] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    assert!(
        matches!(created.placement.sdk, Sdk::Checkout(ref sdk) if is_sdk_crate(sdk)),
        "the test binary lives in this checkout: {:?}",
        created.placement.sdk
    );
    let listing = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(listing(cwd), ["greeter"], "no staging folder is left");

    let err = create("greeter", None, cwd, "alice")
        .expect_err("taken")
        .to_string();
    assert!(err.contains("already exists and is not empty"), "{err}");
    assert!(err.contains("--path"), "{err}");
    std::fs::write(cwd.join("file"), "x").expect("write");
    let err = create("greeter", Some(Path::new("file")), cwd, "alice")
        .expect_err("a file")
        .to_string();
    assert!(err.contains("is not a folder"), "{err}");
    create("Bad", None, cwd, "alice").expect_err("bad name");
    assert_eq!(listing(cwd), ["file", "greeter"]);

    // An empty folder is fine, and stays the same folder (it may be a shell's current one).
    use std::os::unix::fs::MetadataExt;
    std::fs::create_dir(cwd.join("empty")).expect("mkdir");
    let inode = std::fs::metadata(cwd.join("empty")).expect("stat").ino();
    create("other", Some(Path::new(".")), &cwd.join("empty"), "alice").expect("empty folder");
    assert!(cwd.join("empty/manifest.yaml").is_file());
    assert!(cwd.join("empty/src/lib.rs").is_file());
    assert_eq!(
        std::fs::metadata(cwd.join("empty")).expect("stat").ino(),
        inode
    );
    assert_eq!(listing(cwd), ["empty", "file", "greeter"]);
    // Missing parents are created.
    create("third", Some(Path::new("a/b/../c/third")), cwd, "alice").expect("parents");
    assert!(cwd.join("a/c/third/src/lib.rs").is_file());
    assert!(!cwd.join("a/b").exists());
}

#[test]
fn a_name_the_workspace_has_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let ws = root.path();
    std::fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nmembers = [\"plugins/*\"]\n",
    )
    .expect("write");
    std::fs::create_dir_all(ws.join("plugins/dice")).expect("mkdir");
    std::fs::write(
        ws.join("plugins/dice/Cargo.toml"),
        "[package]\nname = \"dice-crate\"\n",
    )
    .expect("write");
    std::fs::write(ws.join("plugins/dice/manifest.yaml"), "name: dice-roller\n").expect("write");
    let plugins = ws.join("plugins");
    let err = create("dice-roller", None, &plugins, "a")
        .expect_err("plugin name taken")
        .to_string();
    assert!(err.contains("already has the plugin dice-roller"), "{err}");
    let err = create("dice-crate", None, &plugins, "a")
        .expect_err("crate name taken")
        .to_string();
    assert!(
        err.contains("already has a crate named dice-crate"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&plugins).expect("read_dir").count(), 1);

    // A folder in plugins/ that is not a crate would break the workspace's build.
    let err = create("greeter", Some(Path::new("mine/greeter")), &plugins, "a")
        .expect_err("new folder in plugins/")
        .to_string();
    assert!(
        err.contains("would be a new folder in the plugins/"),
        "{err}"
    );
    assert!(err.contains("plugins/mine"), "{err}");
    create("greeter", Some(Path::new("dice/greeter")), &plugins, "a")
        .expect("an existing folder is the workspace's business");
    assert_eq!(
        create("other", None, &plugins, "a")
            .expect("a free name")
            .placement
            .workspace,
        Some(ws.canonicalize().expect("canonical"))
    );
    let mut left: Vec<String> = std::fs::read_dir(ws)
        .expect("read_dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    left.sort();
    assert_eq!(left, ["Cargo.toml", "plugins"], "no staging folder is left");
}

#[test]
fn paths_are_made_absolute_and_quoted_for_their_formats() {
    let cwd = Path::new("/home/me/work");
    assert_eq!(
        absolute(Path::new("greeter"), cwd),
        Path::new("/home/me/work/greeter")
    );
    assert_eq!(
        absolute(Path::new("../x/./g"), cwd),
        Path::new("/home/me/x/g")
    );
    assert_eq!(absolute(Path::new("/abs/g"), cwd), Path::new("/abs/g"));
    assert_eq!(toml_string("a\\b\"c"), "\"a\\\\b\\\"c\"");
    assert_eq!(toml_string("tab\t"), "\"tab\\u0009\"");
    assert_eq!(yaml_scalar("alice"), "alice");
    assert_eq!(yaml_scalar("true"), "'true'");
    assert_eq!(
        fill("{{a}}-{{b}} {{c}} {{a", &[("a", "{{b}}"), ("b", "2")]),
        "{{b}}-2 {{c}} {{a"
    );
    assert_eq!(shell_word("plugins/greeter"), "plugins/greeter");
    assert_eq!(shell_word("my dir/it's"), "'my dir/it'\\''s'");
}
