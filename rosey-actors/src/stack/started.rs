//! Whether a start did what its caller is about to claim.
//!
//! The supervisor's first start returns once each unit has started *or failed its first
//! start* (a failed service then waits for its restart), so "the tree started" is not
//! "everything runs". [`Stack::check_started`] asks the running tree: an embedder (and the
//! `rosey` daemon) says "started" only on [`StartCheck::AllUp`], stops the stack on
//! [`StartCheck::ServicesDown`], and names the plugins of [`StartCheck::PluginsDown`].

use crate::{client as sup, ChildInfo, ChildState};

use super::Stack;

/// What a start achieved, as the tree says right after it.
#[derive(Debug, Clone)]
pub enum StartCheck {
    /// Every service and plugin runs.
    AllUp,
    /// The services run; these plugins do not (each with its state and last exit).
    PluginsDown(Vec<ChildInfo>),
    /// A service does not run: `first` in start order (the cause; its last exit says why),
    /// then the others down with it.
    ServicesDown {
        /// The first service down.
        first: ChildInfo,
        /// The services down after it (usually because they need it).
        others: Vec<ChildInfo>,
    },
    /// A supervisor did not answer: what runs cannot be known, so nothing may be claimed.
    Unanswered {
        /// Which supervisor: `root`, or the plugin supervisor's unit name.
        supervisor: &'static str,
        /// Why it did not answer.
        reason: String,
    },
}

impl Stack {
    /// Asks the running tree whether everything the start was for runs now; see
    /// [`StartCheck`] for what to do with each answer.
    pub async fn check_started(&self) -> StartCheck {
        let services = match sup::children(self.root()).await {
            Ok(services) => services,
            Err(err) => {
                return StartCheck::Unanswered {
                    supervisor: "root",
                    reason: err.to_string(),
                }
            }
        };
        let mut down = services
            .into_iter()
            .filter(|child| child.state != ChildState::Running);
        if let Some(first) = down.next() {
            return StartCheck::ServicesDown {
                first,
                others: down.collect(),
            };
        }
        let Some(plugins) = self.plugins() else {
            return StartCheck::Unanswered {
                supervisor: rosey_core::units::PLUGINS,
                reason: "it is not running".to_owned(),
            };
        };
        match sup::children(&plugins).await {
            Ok(children) => {
                let down: Vec<ChildInfo> = children
                    .into_iter()
                    .filter(|child| child.state != ChildState::Running)
                    .collect();
                if down.is_empty() {
                    StartCheck::AllUp
                } else {
                    StartCheck::PluginsDown(down)
                }
            }
            Err(err) => StartCheck::Unanswered {
                supervisor: rosey_core::units::PLUGINS,
                reason: err.to_string(),
            },
        }
    }
}
