//! The session's side of channel actions: taking the next request, checking it against the
//! channel model, sending it when the wire allows, and settling it from what the server says.
//!
//! One action is in flight at a time, so every answer belongs to it. A chat command (`/kick`)
//! waits until no chat message is in flight and the flood budget allows, and holds the outbox
//! until it is settled: CyTube never echoes a command, so an answer to a line sent meanwhile
//! could not be told from the command's.

use std::time::Instant;

use futures::SinkExt;
use rosey_abi::channel::{Action, ActionError, ActionErrorKind};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::{lost, Session, Ws};
use crate::connector::cytube::{
    actions::{self, Expect, Plan},
    reconnect::Ended,
    Request,
};

/// An action sent (or about to be), waiting for the server's word.
pub(super) struct Waiting {
    request: Request,
    plan: Plan,
    /// When it was sent; `None` while a chat command waits for its turn.
    sent: Option<Instant>,
}

impl Session<'_> {
    /// When the action in hand must be sent or given up on, if one is in hand.
    pub(super) fn action_due(&self, now: Instant) -> Option<Instant> {
        match &self.waiting {
            Some(Waiting {
                sent: Some(sent),
                plan,
                ..
            }) => Some(*sent + plan.timeout),
            Some(Waiting { sent: None, .. }) => self.shared.outbox().command_at(now),
            None if self.joined && self.logged_in && !self.shared.actions().is_empty() => Some(now),
            None => None,
        }
    }

    /// Whether the outbox must hold its messages (a chat command is on its way or in flight).
    pub(super) fn holds_outbox(&self) -> bool {
        self.waiting
            .as_ref()
            .is_some_and(|waiting| waiting.plan.chat_command)
    }

    /// Moves the action in hand along: takes and checks the next request, sends it when it is
    /// its turn, or gives up on one that had its time.
    pub(super) async fn step_action(&mut self, ws: &mut Ws) -> Result<(), Ended> {
        let now = Instant::now();
        if let Some(Waiting {
            sent: Some(sent),
            plan,
            ..
        }) = &self.waiting
        {
            if now >= *sent + plan.timeout {
                let timeout = plan.timeout;
                let waiting = self.waiting.take();
                if let Some(waiting) = waiting {
                    let verb = waiting.request.action.words();
                    waiting.request.answer(Err(ActionError::new(
                        ActionErrorKind::NoAnswer,
                        format!(
                            "CyTube did not confirm the {verb} within {} s; it may or may not have happened",
                            timeout.as_secs()
                        ),
                    )));
                }
            }
            return Ok(());
        }
        if self.waiting.is_none() {
            // One whose asker gave up (its answer came too late) is dropped, never done late.
            let next = {
                let mut queue = self.shared.actions();
                queue.retain(|request| !request.reply.is_closed());
                queue.pop_front()
            };
            let Some(request) = next else {
                return Ok(());
            };
            let planned = actions::plan(&self.shared.model(), &request.action);
            match planned {
                Err(error) => {
                    request.answer(Err(error));
                    return Ok(());
                }
                Ok(plan) => {
                    self.waiting = Some(Waiting {
                        request,
                        plan,
                        sent: None,
                    })
                }
            }
        }
        let Some(waiting) = self.waiting.as_mut() else {
            return Ok(());
        };
        if waiting.plan.chat_command {
            let mut outbox = self.shared.outbox();
            match outbox.command_at(now) {
                Some(at) if at <= now => outbox.spend(now),
                _ => return Ok(()),
            }
        }
        for frame in &waiting.plan.frames {
            ws.send(Message::text(frame.clone())).await.map_err(lost)?;
        }
        waiting.sent = Some(now);
        if let Expect::Nothing(done) = &waiting.plan.expect {
            let done = Ok(done.clone());
            if let Some(waiting) = self.waiting.take() {
                self.note_done(&waiting, &done);
                waiting.request.answer(done);
            }
        }
        Ok(())
    }

    /// What an action that happened changes in what the bot knows: a vote to skip counts
    /// once per item (CyTube ignores a second one without a word).
    fn note_done(&self, waiting: &Waiting, result: &Result<String, ActionError>) {
        if result.is_ok() && waiting.request.action == Action::VoteSkip {
            let mut model = self.shared.model();
            model.voted_skip = model.playlist.current;
        }
    }

    /// Settles the action in flight if frame `name` answers it; `true` when the frame was the
    /// action's own refusal (an `errorMsg`, `queueFail` or `cooldown` that belongs to nothing
    /// else).
    pub(super) fn settle_action(&mut self, name: &str, data: &Value) -> bool {
        let Some(waiting) = &self.waiting else {
            return false;
        };
        if waiting.sent.is_none() {
            return false;
        }
        let flood =
            name == "cooldown" && waiting.plan.chat_command && !self.shared.outbox().in_flight();
        let settled = if flood {
            Some(Err(ActionError::new(
                ActionErrorKind::Refused,
                "CyTube's flood control dropped the command (the bot spoke too fast); nothing was done",
            )))
        } else {
            actions::settles(&waiting.plan.expect, &self.self_name, name, data)
        };
        let Some(result) = settled else {
            return false;
        };
        if let Some(waiting) = self.waiting.take() {
            self.note_done(&waiting, &result);
            waiting.request.answer(result);
        }
        matches!(name, "errorMsg" | "queueFail" | "cooldown")
    }

    /// The connection ended: the action in flight may or may not have happened, and those
    /// still queued were not done.
    pub(super) fn abandon_actions(&mut self) {
        if let Some(waiting) = self.waiting.take() {
            let verb = waiting.request.action.words();
            let error = match waiting.sent {
                Some(_) => ActionError::new(
                    ActionErrorKind::NoAnswer,
                    format!(
                        "the connection to CyTube was lost before it confirmed the {verb}; it may or may not have happened"
                    ),
                ),
                None => not_connected(),
            };
            waiting.request.answer(Err(error));
        }
        let queued: Vec<Request> = self.shared.actions().drain(..).collect();
        for request in queued {
            request.answer(Err(not_connected()));
        }
    }
}

fn not_connected() -> ActionError {
    ActionError::new(
        ActionErrorKind::Unavailable,
        "the connection to CyTube was lost; nothing was done",
    )
}
