//! Patience with the cluster's stores (JetStream streams, the object store, key-value buckets)
//! on a NATS cluster: when a server is lost, each stream it led answers nothing until NATS has
//! elected a new leader (4 to 9 s, its fixed Raft timeouts), and a store made a moment ago may
//! not take writes on every server yet. So what plugin nodes keep in the cluster is tried
//! again for a while rather than given up on at the first silence.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

/// How long a store may stay silent before it is given up on: longer than a leader election.
pub(crate) const PATIENCE: Duration = Duration::from_secs(12);

/// How long one try may take before it is made again.
const ONE_TRY: Duration = Duration::from_secs(3);

/// Between two tries.
const PAUSE: Duration = Duration::from_millis(250);

/// `attempt` until it succeeds, each try bounded, for up to [`PATIENCE`]; the last failure.
pub(crate) async fn patiently<T, Fut>(mut attempt: impl FnMut() -> Fut) -> Result<T, String>
where
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        let failure = match tokio::time::timeout(ONE_TRY, attempt()).await {
            Ok(Ok(done)) => return Ok(done),
            Ok(Err(err)) => err,
            Err(_) => format!("no answer within {ONE_TRY:?}"),
        };
        if Instant::now() + PAUSE >= deadline {
            return Err(format!("{failure} (tried for {PATIENCE:?})"));
        }
        tokio::time::sleep(PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_try_that_fails_is_made_again_until_it_succeeds() {
        let mut tries = 0;
        let done = patiently(|| {
            tries += 1;
            let now = tries;
            async move {
                if now < 3 {
                    Err(format!("try {now} failed"))
                } else {
                    Ok(now)
                }
            }
        })
        .await;
        assert_eq!(done, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_silent_past_the_patience_is_given_up_on_with_the_last_failure() {
        let started = Instant::now();
        let done: Result<(), String> = patiently(std::future::pending).await;
        let err = done.expect_err("given up");
        assert!(err.contains("no answer within 3s"), "{err}");
        assert!(
            started.elapsed() >= PATIENCE - ONE_TRY,
            "{:?}",
            started.elapsed()
        );
        assert!(
            started.elapsed() <= PATIENCE + ONE_TRY,
            "{:?}",
            started.elapsed()
        );
    }
}
