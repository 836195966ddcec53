//! Whether a freshly started nats-server is ready: a client logs in, JetStream answers, and
//! (for the main daemon) the two streams exist at this start's size and copy count. In a
//! cluster JetStream answers only once the servers elected a leader, and streams of three
//! copies need three servers up: until then the server is not ready yet.

use super::*;

/// The first pause between two tries: a local server listens a few milliseconds after its
/// exec, and a refused connection costs nothing, so the first tries come close together.
const FIRST_PAUSE: Duration = Duration::from_millis(2);

/// The longest pause between two tries: a cluster waiting for its other servers is asked
/// again at this pace, not hammered.
const LONGEST_PAUSE: Duration = Duration::from_millis(50);

/// Waits until a client can connect and JetStream answers, then makes sure the streams exist
/// at this start's size. A server that refuses the streams (no room for them) fails the start
/// at once: waiting cannot help.
pub(super) async fn wait_ready(args: &NatsArgs, child: &ChildProcess) -> Result<(), String> {
    let deadline = Instant::now() + args.ready_timeout;
    let mut last_error = String::from("no answer");
    let mut pause = FIRST_PAUSE;
    while Instant::now() < deadline {
        if let Some(exit) = child.exited() {
            return Err(format!("nats-server exited while starting: {exit}"));
        }
        match try_ready(args).await {
            Ok(()) => return Ok(()),
            Err(NotReady::Yet(err)) => last_error = err,
            Err(NotReady::Refused(err)) => return Err(err),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 3 / 2).min(LONGEST_PAUSE);
    }
    Err(format!(
        "nats-server not ready within {:?}: {last_error}",
        args.ready_timeout
    ))
}

/// Why the server is not ready.
enum NotReady {
    /// Not yet (not listening, JetStream still starting): try again.
    Yet(String),
    /// It answered, and said no for good.
    Refused(String),
}

async fn try_ready(args: &NatsArgs) -> Result<(), NotReady> {
    let client = args
        .credentials
        .connect_options(BusUser::Daemon)
        .connection_timeout(Duration::from_millis(500))
        .connect(args.url())
        .await
        .map_err(|err| NotReady::Yet(err.to_string()))?;
    let js = async_nats::jetstream::new(client.clone());
    js.query_account()
        .await
        .map_err(|err| NotReady::Yet(err.to_string()))?;
    if !args.makes_streams {
        return Ok(());
    }
    for config in [
        messaging::stream_config(&args.store),
        messaging::dead_letter_stream_config(&args.store),
    ] {
        let name = config.name.clone();
        // Already as this start wants it (the usual restart): read, not written again.
        if let Ok(held) = js.get_stream(&name).await {
            if messaging::stream_is_as_wanted(&held.cached_info().config, &config) {
                continue;
            }
        }
        // Made, or brought to this start's store size (`nats.max_storage` or the disk changed).
        if let Err(err) = js.create_or_update_stream(config).await {
            let code = match err.kind() {
                CreateStreamErrorKind::JetStream(ref js_err) => Some(js_err.error_code()),
                _ => None,
            };
            if args.cluster.is_some() && code == Some(ErrorCode::INSUFFICIENT_RESOURCES) {
                // Not enough servers of the cluster are up yet to keep every copy.
                return Err(NotReady::Yet(format!(
                    "cannot make stream {name} with {} copies yet: {err}; start the other servers of the cluster (nats.cluster.routes), or lower nats.cluster.replicas",
                    args.store.replicas()
                )));
            }
            let no_room = matches!(
                err.kind(),
                CreateStreamErrorKind::JetStream(ref js_err)
                    if [ErrorCode::INSUFFICIENT_RESOURCES, ErrorCode::STORAGE_RESOURCES_EXCEEDED]
                        .contains(&js_err.error_code())
            );
            let message = format!("cannot make stream {name}: {err}");
            return Err(if no_room {
                NotReady::Refused(format!(
                    "{message}; the message store is {} (nats.max_storage, or fitted to the disk)",
                    args.store.describe()
                ))
            } else {
                NotReady::Yet(message)
            });
        }
    }
    drop(client);
    Ok(())
}
