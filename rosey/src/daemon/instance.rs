//! One daemon per home: the lock, the pid file and the control socket's path.
//!
//! The lock (`data/run/rosey.lock`, an `flock` held for the daemon's life) is the truth; the pid
//! file and the socket are what it leaves for others to find it. The kernel drops the lock when
//! the daemon dies, even by SIGKILL, so the next start can tell a stale pid file or socket from a
//! live daemon and clean them up.

use std::{
    fs::{self, File, OpenOptions, TryLockError},
    io,
    os::unix::fs::{DirBuilderExt, PermissionsExt},
};

use rosey_core::paths::Home;

/// Why the daemon cannot take this home.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// Another daemon holds the lock.
    #[error("rosey is already running in {home} (pid {pid}); see `rosey status`, or `rosey stop` it first")]
    AlreadyRunning {
        /// The home.
        home: String,
        /// The running daemon's pid, as its pid file says.
        pid: String,
    },
    /// The run folder or its files cannot be used.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// This process's claim on a home. Dropping it removes the pid file and the socket.
pub struct Instance {
    _lock: File,
    home: Home,
    /// Whether a previous daemon's leftovers were cleaned up.
    pub cleaned_stale: bool,
}

fn io_error(path: &std::path::Path) -> impl FnOnce(io::Error) -> InstanceError + '_ {
    move |source| InstanceError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Instance {
    /// Takes the home's lock, cleans up after a killed daemon, and writes the pid file.
    pub fn acquire(home: &Home) -> Result<Instance, InstanceError> {
        let run = home.run_dir();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&run)
            .map_err(io_error(&run))?;
        let lock_path = home.lock_file();
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let pid = fs::read_to_string(home.pid_file())
                    .map(|pid| pid.trim().to_owned())
                    .unwrap_or_else(|_| "unknown".to_owned());
                return Err(InstanceError::AlreadyRunning {
                    home: home.root().display().to_string(),
                    pid,
                });
            }
            Err(TryLockError::Error(err)) => return Err(io_error(&lock_path)(err)),
        }
        let mut cleaned_stale = false;
        for stale in [home.socket_file(), home.pid_file()] {
            match fs::remove_file(&stale) {
                Ok(()) => cleaned_stale = true,
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(io_error(&stale)(err)),
            }
        }
        // Uploads a killed daemon was installing: nobody will finish them.
        if let Ok(entries) = fs::read_dir(&run) {
            for entry in entries.flatten() {
                let leftover = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|name| name.starts_with(Home::UPLOAD_PREFIX));
                if leftover {
                    if let Err(err) = fs::remove_dir_all(entry.path()) {
                        tracing::warn!("cannot remove {}: {err}", entry.path().display());
                    }
                }
            }
        }
        let pid_file = home.pid_file();
        rosey_core::fsutil::write_atomic(&pid_file, format!("{}\n", std::process::id()).as_bytes())
            .map_err(io_error(&pid_file))?;
        Ok(Instance {
            _lock: lock,
            home: home.clone(),
            cleaned_stale,
        })
    }

    /// Binds the control socket, readable and writable by this user only.
    pub fn bind_socket(&self) -> Result<tokio::net::UnixListener, InstanceError> {
        let path = self.home.socket_file();
        // Created under a 0077 umask so no other user can ever connect, even briefly.
        // SAFETY: umask only changes this process's file-creation mask.
        let previous = unsafe { libc::umask(0o077) };
        let bound = tokio::net::UnixListener::bind(&path);
        // SAFETY: as above.
        unsafe { libc::umask(previous) };
        let listener = bound.map_err(io_error(&path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io_error(&path))?;
        Ok(listener)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.home.socket_file());
        let _ = fs::remove_file(self.home.pid_file());
    }
}
