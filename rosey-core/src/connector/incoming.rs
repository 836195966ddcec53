//! The incoming side of a connector: [`IncomingQueue`] keeps what the chat said until the bot
//! reads it, and its [`IncomingReceiver`] returns to the queue, unread messages included, when
//! its reader drops it (a bot service restarted by its supervisor takes it again and loses
//! nothing in between).

use std::{
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
};

use futures::Stream;
use tokio::sync::mpsc;

use super::{ConnectorError, Incoming};

type Slot = Arc<Mutex<Option<mpsc::UnboundedReceiver<Incoming>>>>;

/// The incoming side of a connector: a queue that keeps what was heard until it is read, whose
/// receiver returns to the queue when its reader drops it.
///
/// Unbounded on purpose: a connector must never block or drop what the chat says, and chat
/// arrives at human speed; the bot reads it as fast as it comes (the router only queues).
#[derive(Debug)]
pub struct IncomingQueue {
    connector: String,
    sender: Mutex<Option<mpsc::UnboundedSender<Incoming>>>,
    slot: Slot,
}

impl IncomingQueue {
    /// An open queue for the connector called `connector` (named in errors).
    pub fn new(connector: &str) -> IncomingQueue {
        let (sender, receiver) = mpsc::unbounded_channel();
        IncomingQueue {
            connector: connector.to_owned(),
            sender: Mutex::new(Some(sender)),
            slot: Arc::new(Mutex::new(Some(receiver))),
        }
    }

    /// Queues `incoming` for the reader; fails only once the queue is closed.
    pub fn push(&self, incoming: Incoming) -> Result<(), ConnectorError> {
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        match sender.as_ref() {
            // The receiver is never dropped while the queue lives (it returns to the slot), so
            // sending fails only if the queue itself is gone, which `&self` rules out.
            Some(sender) => sender.send(incoming).map_err(|_| self.closed()),
            None => Err(self.closed()),
        }
    }

    /// Takes the receiver (see [`super::Connector::incoming`]).
    pub fn take(&self) -> Result<IncomingReceiver, ConnectorError> {
        let receiver = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| ConnectorError::IncomingTaken {
                connector: self.connector.clone(),
            })?;
        Ok(IncomingReceiver {
            receiver: Some(receiver),
            slot: self.slot.clone(),
        })
    }

    /// Closes the queue: pushes fail, and the receiver ends after what it holds.
    pub fn close(&self) {
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Whether [`IncomingQueue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    fn closed(&self) -> ConnectorError {
        ConnectorError::Closed {
            connector: self.connector.clone(),
        }
    }
}

/// What a connector heard, in order; a [`Stream`] too. Dropping it hands it back to the
/// connector, unread messages included.
#[derive(Debug)]
pub struct IncomingReceiver {
    receiver: Option<mpsc::UnboundedReceiver<Incoming>>,
    slot: Slot,
}

impl IncomingReceiver {
    /// The next message; `None` once the connector is closed and everything was read.
    pub async fn recv(&mut self) -> Option<Incoming> {
        self.receiver.as_mut()?.recv().await
    }

    /// The next message if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<Incoming> {
        self.receiver.as_mut()?.try_recv().ok()
    }
}

impl Stream for IncomingReceiver {
    type Item = Incoming;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        match self.receiver.as_mut() {
            Some(receiver) => receiver.poll_recv(cx),
            None => Poll::Ready(None),
        }
    }
}

impl Drop for IncomingReceiver {
    fn drop(&mut self) {
        if let Some(receiver) = self.receiver.take() {
            *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(receiver);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::Source;

    fn chat(id: &str) -> Incoming {
        Incoming::new(Source::Chat, "alice".into(), "hi".into(), 1, id.into())
    }

    #[tokio::test]
    async fn a_dropped_receiver_returns_with_what_it_held() {
        let queue = IncomingQueue::new("test");
        queue.push(chat("1")).expect("push");
        let mut first = queue.take().expect("take");
        let err = queue.take().expect_err("taken").to_string();
        assert!(err.contains("already being read"), "{err}");
        assert_eq!(
            first.recv().await.map(|m| m.id().to_owned()),
            Some("1".into())
        );
        queue.push(chat("2")).expect("push");
        drop(first);
        queue.push(chat("3")).expect("push");
        let mut second = queue.take().expect("taken again");
        assert_eq!(
            second.try_recv().map(|m| m.id().to_owned()),
            Some("2".into())
        );
        assert_eq!(
            second.try_recv().map(|m| m.id().to_owned()),
            Some("3".into())
        );
        assert_eq!(second.try_recv(), None);
    }

    #[tokio::test]
    async fn closing_ends_the_receiver_after_what_it_holds() {
        let queue = IncomingQueue::new("test");
        let mut receiver = queue.take().expect("take");
        queue.push(chat("1")).expect("push");
        queue.close();
        assert!(queue.is_closed());
        let err = queue.push(chat("2")).expect_err("closed").to_string();
        assert!(err.contains("test connector is closed"), "{err}");
        assert_eq!(
            receiver.recv().await.map(|m| m.id().to_owned()),
            Some("1".into())
        );
        assert_eq!(receiver.recv().await, None);
    }
}
