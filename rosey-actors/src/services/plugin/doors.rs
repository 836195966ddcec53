//! Every plugin's door, kept by the stack (not by any actor) so a door outlives the actor
//! instances that read it.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, TryLockError},
};

use async_nats::jetstream;

use super::door::{Door, Wants};

/// Every plugin's door, kept by the stack so doors outlive actor restarts.
#[derive(Clone, Default)]
pub struct Doors {
    doors: Arc<Mutex<HashMap<String, Arc<Door>>>>,
    store: rosey_core::messaging::StoreBudget,
}

/// The plugins with a door; never waits for the lock (`<locked>` while someone holds it).
impl std::fmt::Debug for Doors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("Doors");
        match self.doors.try_lock() {
            Ok(doors) => debug.field("plugins", &doors.keys()),
            Err(TryLockError::Poisoned(poisoned)) => {
                debug.field("plugins", &poisoned.into_inner().keys())
            }
            Err(TryLockError::WouldBlock) => debug.field("plugins", &format_args!("<locked>")),
        };
        debug.finish()
    }
}

impl Doors {
    /// No doors yet; each makes the streams sized for `store` when it finds them missing.
    pub fn new(store: rosey_core::messaging::StoreBudget) -> Doors {
        Doors {
            doors: Arc::default(),
            store,
        }
    }

    /// Plugin `name`'s door, made for `version` if it has none yet.
    pub fn open(
        &self,
        name: &str,
        version: &str,
        wants: Wants,
        js: &jetstream::Context,
        attempts_file: PathBuf,
    ) -> Arc<Door> {
        let mut doors = match self.doors.lock() {
            Ok(doors) => doors,
            Err(poisoned) => poisoned.into_inner(),
        };
        doors
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(Door::new(
                    name,
                    version,
                    wants,
                    js.clone(),
                    self.store,
                    attempts_file,
                ))
            })
            .clone()
    }

    /// The message store's size the streams are made with.
    pub fn store(&self) -> rosey_core::messaging::StoreBudget {
        self.store
    }

    /// Plugin `name`'s door, if it has one.
    pub fn get(&self, name: &str) -> Option<Arc<Door>> {
        match self.doors.lock() {
            Ok(doors) => doors.get(name).cloned(),
            Err(poisoned) => poisoned.into_inner().get(name).cloned(),
        }
    }

    /// Closes plugin `name`'s door (removed or disabled): its subscription ends and its
    /// standby host, if any, is killed.
    pub fn close(&self, name: &str) {
        let door = match self.doors.lock() {
            Ok(mut doors) => doors.remove(name),
            Err(poisoned) => poisoned.into_inner().remove(name),
        };
        if let Some(door) = door {
            door.drop_standby();
        }
    }

    /// Every open door.
    pub fn all(&self) -> Vec<Arc<Door>> {
        match self.doors.lock() {
            Ok(doors) => doors.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        }
    }

    /// Kills every standby host (the stack is stopping).
    pub fn drop_standbys(&self) {
        let doors: Vec<Arc<Door>> = match self.doors.lock() {
            Ok(doors) => doors.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        };
        for door in doors {
            door.drop_standby();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::plugin::door::tests::{roll_wants, unconnected_client};

    #[tokio::test]
    async fn a_door_outlives_its_openers_and_the_doors_print_without_waiting_for_their_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let doors = Doors::new(rosey_core::messaging::StoreBudget::default());
        let js = jetstream::new(unconnected_client().await);
        let first = doors.open(
            "dice",
            "1.0.0",
            roll_wants(),
            &js,
            dir.path().join("d.json"),
        );
        // A restarted actor opens its door again: it gets the one there, as it was.
        let again = doors.open(
            "dice",
            "2.0.0",
            roll_wants(),
            &js,
            dir.path().join("x.json"),
        );
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(again.version(), "1.0.0");
        doors.open(
            "quotes",
            "1.0.0",
            roll_wants(),
            &js,
            dir.path().join("q.json"),
        );
        let shown = format!("{doors:?}");
        assert!(
            shown.contains(r#""dice""#) && shown.contains(r#""quotes""#),
            "{shown}"
        );
        let held = doors.doors.lock().expect("doors");
        let shown = format!("{doors:?}");
        drop(held);
        assert_eq!(shown, "Doors { plugins: <locked> }");
        doors.close("dice");
        assert!(doors.get("dice").is_none());
        assert_eq!(doors.all().len(), 1);
    }
}
