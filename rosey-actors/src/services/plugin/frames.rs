//! Reading a host's frames where they are used: in the actor's own task, not through a reader
//! task and a queue. Every reply, heartbeat and `Done` then costs one wake-up of the actor
//! instead of two (the reader's, then the actor's), which on a small VM is tens of
//! microseconds per message on the hot path.
//!
//! [`FrameReader::recv`] is cancel-safe, so it can be one branch of a `select!`: bytes are only
//! taken from the socket by `read_buf` (which reads nothing when cancelled) into a buffer that
//! outlives the call, and frames are cut from that buffer without awaiting. The host is
//! untrusted: a frame's length is checked before its body is read, and the buffer grows with
//! what actually arrives, never with what the length prefix claims.
//!
//! The reader also keeps the host's [`Timers`]: `SetTimer` and `CancelTimer` are taken in as
//! they are read, wherever the actor is (loading, serving, swapping), and still returned, so
//! an idle serving loop wakes up to the new due time.

use std::collections::VecDeque;

use rosey_host::wire::{self, FromHost};
use tokio::{io::AsyncReadExt, net::unix::OwnedReadHalf};

use super::timers::Timers;

/// How much the buffer grows by for one read.
const READ_CHUNK: usize = 64 * 1024;

/// The actor's reading end of a host's channel.
pub struct FrameReader {
    read: OwnedReadHalf,
    buf: Vec<u8>,
    frames: VecDeque<FromHost>,
    ended: bool,
    /// The timers this host's instance armed.
    pub timers: Timers,
}

/// Sizes, not the buffered bytes.
impl std::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("buffered", &self.buf.len())
            .field("frames", &self.frames.len())
            .field("ended", &self.ended)
            .field("timers", &self.timers)
            .finish_non_exhaustive()
    }
}

impl FrameReader {
    /// Reads frames from `read`.
    pub fn new(read: OwnedReadHalf) -> FrameReader {
        FrameReader {
            read,
            buf: Vec::new(),
            frames: VecDeque::new(),
            ended: false,
            timers: Timers::default(),
        }
    }

    /// The next frame; `None` once the channel ended (the host closed it or died) or the host
    /// broke the channel's rules (logged), and from then on. Cancel-safe.
    pub async fn recv(&mut self) -> Option<FromHost> {
        loop {
            if let Some(frame) = self.frames.pop_front() {
                return Some(frame);
            }
            if self.ended {
                return None;
            }
            if let Err(err) = self.cut_frames() {
                tracing::warn!("a plugin host broke the channel's rules: {err}");
                self.ended = true;
                continue;
            }
            if !self.frames.is_empty() {
                continue;
            }
            self.buf.reserve(READ_CHUNK);
            match self.read.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => self.ended = true,
                Ok(_) => {}
            }
        }
    }

    /// Moves every whole frame in the buffer to the queue.
    fn cut_frames(&mut self) -> Result<(), wire::WireError> {
        let mut at = 0;
        while let Some(prefix) = self.buf.get(at..at + 4) {
            let prefix: [u8; 4] = [prefix[0], prefix[1], prefix[2], prefix[3]];
            let len = wire::frame_len(prefix)?;
            let Some(body) = self.buf.get(at + 4..at + 4 + len) else {
                break;
            };
            let frame = FromHost::decode(body)?;
            self.timers.note(&frame);
            self.frames.push_back(frame);
            at += 4 + len;
        }
        self.buf.drain(..at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rosey_host::wire::{FromHost, Level};
    use tokio::{io::AsyncWriteExt, net::UnixStream};

    use super::*;

    fn log(message: &str) -> FromHost {
        FromHost::Log {
            level: Level::Info,
            plugin: true,
            message: message.to_owned(),
        }
    }

    #[tokio::test]
    async fn frames_split_anywhere_arrive_whole_in_order_even_when_a_read_is_cancelled() {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let (read, _write) = ours.into_split();
        let mut reader = FrameReader::new(read);
        let (_, mut host) = theirs.into_split();
        let mut bytes = Vec::new();
        for n in 0..50 {
            bytes.extend(log(&format!("line {n}")).encode());
        }
        let writer = tokio::spawn(async move {
            for piece in bytes.chunks(7) {
                host.write_all(piece).await.expect("write");
                tokio::time::sleep(Duration::from_micros(50)).await;
            }
        });
        let mut seen = Vec::new();
        while seen.len() < 50 {
            // A timeout far shorter than the writer's pace cancels many reads half way.
            if let Ok(frame) = tokio::time::timeout(Duration::from_micros(10), reader.recv()).await
            {
                seen.push(frame.expect("a frame"));
            }
        }
        writer.await.expect("writer");
        let expected: Vec<FromHost> = (0..50).map(|n| log(&format!("line {n}"))).collect();
        assert_eq!(seen, expected);
        assert_eq!(reader.recv().await, None, "the host's end closed");
    }

    #[tokio::test]
    async fn a_frame_over_the_limit_ends_the_channel_without_reading_its_body() {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let (read, _write) = ours.into_split();
        let mut reader = FrameReader::new(read);
        let (_theirs_read, mut host) = theirs.into_split();
        let claim = u32::try_from(wire::MAX_FRAME + 1).expect("fits");
        host.write_all(&claim.to_le_bytes()).await.expect("write");
        assert_eq!(reader.recv().await, None);
        assert!(
            reader.buf.capacity() <= READ_CHUNK + 4,
            "allocated for a claim"
        );
    }

    #[tokio::test]
    async fn the_reader_prints_sizes_and_armed_timers_never_the_bytes_it_holds() {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let (read, _write) = ours.into_split();
        let mut reader = FrameReader::new(read);
        let (_theirs_read, mut host) = theirs.into_split();
        let timer = FromHost::SetTimer {
            id: 1,
            name: "tick".to_owned(),
            after_ms: 60_000,
            every_ms: 0,
        };
        // A whole frame, then most of one whose words are the plugin's own.
        let secret = log("the password is hunter2").encode();
        let partial = &secret[..secret.len() - 3];
        let mut bytes = timer.encode();
        bytes.extend_from_slice(partial);
        host.write_all(&bytes).await.expect("write");
        assert_eq!(reader.recv().await, Some(timer));
        let shown = format!("{reader:?}");
        assert!(
            shown.contains(&format!("buffered: {}", partial.len())),
            "{shown}"
        );
        assert!(shown.contains("frames: 0") && shown.contains("ended: false"));
        assert!(shown.contains(r#"armed: ["tick"]"#), "{shown}");
        assert!(shown.contains("next_due: Some("), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
