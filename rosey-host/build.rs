//! Links the `rosey-plugin-host` binary with packed relative relocations (`DT_RELR`) where the
//! toolchain and the C library support them.
//!
//! Every plugin instance is one of these processes, and the dynamic loader reads the binary's
//! whole relocation table at start. As classic `RELA` entries the table is some 120 KB (one entry
//! per pointer in vtables and static data); packed, under 2 KB. Fewer pages read means fewer
//! file-backed pages resident in every host, and a slightly faster spawn.
//!
//! `DT_RELR` needs a linker that knows `-z pack-relative-relocs` (GNU ld 2.38, lld 15, mold) and
//! a loader that applies it (glibc 2.36): a binary that has it does not start under an older
//! glibc. So the flag is used only when a tiny program linked with it here also runs here, and
//! only for a native build (a cross build cannot run its probe). Otherwise the binary is linked
//! as before.

use std::path::Path;
use std::process::{Command, Stdio};

const FLAG: &str = "-Wl,-z,pack-relative-relocs";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    if packed_relocations_work() {
        println!("cargo:rustc-link-arg-bins={FLAG}");
    }
}

/// Whether a PIE linked with [`FLAG`] by the C compiler rustc links with builds and runs here.
fn packed_relocations_work() -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let native = var("TARGET") == var("HOST");
    if !native || var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return false;
    }
    let Ok(out_dir) = std::env::var("OUT_DIR") else {
        return false;
    };
    let source = Path::new(&out_dir).join("relr-probe.c");
    let program = Path::new(&out_dir).join("relr-probe");
    // A pointer in static data makes a relative relocation for the loader to apply.
    let probe = "static const char *word = \"relr\"; int main(void) { return word[0] != 'r'; }\n";
    if std::fs::write(&source, probe).is_err() {
        return false;
    }
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let quiet = |command: &mut Command| {
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let linked = quiet(
        Command::new(&compiler)
            .args(["-fPIE", "-pie", FLAG, "-Wl,--fatal-warnings", "-o"])
            .arg(&program)
            .arg(&source),
    );
    linked && quiet(&mut Command::new(&program))
}
